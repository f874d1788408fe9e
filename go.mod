module github.com/ferry-tunnel/ferry

go 1.26.0

require (
	github.com/BurntSushi/toml v1.6.0
	github.com/google/pprof v0.0.0-20261016150608-1facf8f91b50
	github.com/montanaflynn/stats v0.14.0
	github.com/valyala/fasthttp v1.78.0
	golang.org/x/sys v0.49.0
	golang.org/x/time v0.16.0
)

require (
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/molecule-man/go-brrr v1.3.1 // indirect
	github.com/valyala/bytebufferpool v1.0.0 // indirect
)
