//go:build !linux

package epollcopy

// The engine needs Linux: it is built on epoll(7) and eventfd(2). Elsewhere
// this package registers nothing, so relay.NewEngine("epollcopy", ...) fails
// with relay.ErrUnknownEngine, which lists the engines there are.
