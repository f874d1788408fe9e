// Command ferry is a reverse TCP tunnel: a client on a private network dials
// out to a public ferry server, which opens a public port per tunnel and
// relays every connection to that port back through the tunnel to a local
// service. It is also a testbed for relay engines: every subcommand that
// relays takes --engine, and `ferry engines` lists the ones built in.
//
// Usage:
//
//	ferry server  --listen 0.0.0.0:7000 --token-file FILE [flags]
//	ferry client  --server tunnel.example.com:7000 --token-file FILE --tunnel web=127.0.0.1:8080:6000 [flags]
//	ferry forward --listen 127.0.0.1:9000 --to 127.0.0.1:8080 [flags]
//	ferry engines
//	ferry version                 (or ferry --version, ferry -v)
//	ferry backend sink|source|echo|http [--listen ADDR]
//	ferry loadgen bulk|rr|http|churn|idle --addr ADDR [flags]
//
// backend and loadgen are the load generator (package loadgen) on the
// command line, so any relay, not only ferry, can be measured with it.
//
// For example, to expose a web server on a private machine as port 6000 of
// tunnel.example.com:
//
//	tunnel.example.com$ (umask 077 && openssl rand -hex 32 > token)
//	tunnel.example.com$ ferry server --token-file token --allow-ports 6000-6100 --public-host tunnel.example.com
//	laptop$ ferry client --server tunnel.example.com:7000 --token-file token --tunnel web=127.0.0.1:8080:6000
//
// with the same token file on both machines (FERRY_TOKEN in the environment
// works too; --token SECRET shows the secret in ps).
//
// server and client also read a TOML file with -c FILE: the file's keys
// override the defaults and flags given on the command line override the
// file. docs/config.md lists every flag and key, and docs/examples holds a
// commented file for each.
//
// Logs go to stderr, as text or JSON (--log-format), at --log-level and above.
// On SIGINT or SIGTERM, server, client and forward stop accepting and let
// live connections finish for a while (server: shutdown_timeout); a second
// signal exits at once.
//
// `ferry CMD -h` prints a command's flags on stdout. A bad command line is
// one line on stderr naming the flag or argument at fault, with where to
// read the usage.
//
// Exit status: 0 after a clean shutdown or -h, 1 when ferry ran and failed
// (the token was refused, the listen address is in use), 2 for a bad command
// line or config, in which case nothing was started.
package main
