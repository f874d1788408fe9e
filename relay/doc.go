// Package relay is ferry's tunnel core: the wire protocol, the server and
// client, their config and authentication, the one-hop Forwarder, and the
// Engine contract with the registry of engines that move the bytes.
//
// The core decides which sockets to pair; an Engine decides how bytes move
// between them. Engines never see tunnels, tokens or config, and the core
// never reads or writes a relayed byte: once a public connection and a data
// connection are paired, both sockets belong to the engine.
//
// A server in a few lines (engines register themselves when their packages
// are imported, e.g. github.com/ferry-tunnel/ferry/variants/all):
//
//	srv, err := relay.NewServer(relay.ServerConfig{Listen: "0.0.0.0:7000", Token: token})
//	if err != nil { ... }
//	go srv.Serve()
//	defer srv.Shutdown(ctx)
//
// and a client exposing a local web server on the server's port 6000:
//
//	cl, err := relay.NewClient(relay.ClientConfig{
//		Server: "tunnel.example.com:7000", Token: token, Pool: relay.DefaultPool,
//		Tunnels: []relay.TunnelConfig{{Name: "web", Local: "127.0.0.1:8080", PublicPort: 6000}},
//	})
//	if err != nil { ... }
//	err = cl.Run(ctx) // reconnects until ctx is cancelled
//
// docs/protocol.md specifies the wire format; docs/architecture.md explains
// the design.
package relay
