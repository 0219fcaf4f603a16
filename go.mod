module github.com/tlsm/tlsm

go 1.26.0

require (
	github.com/pion/dtls/v3 v3.1.15
	github.com/pion/dtls/v4 v4.0.1
	github.com/pion/transport/v3 v3.1.1
	github.com/pion/transport/v5 v5.1.4
	github.com/stretchr/testify v1.12.1
	golang.org/x/crypto v0.59.0
)

require (
	github.com/pion/logging v0.2.4 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/sys v0.50.0 // indirect
)
