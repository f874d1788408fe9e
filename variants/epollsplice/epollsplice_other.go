//go:build !linux

package epollsplice

// The engine needs Linux: it is built on epoll(7), eventfd(2) and splice(2).
// Elsewhere this package registers nothing, so relay.NewEngine("epollsplice",
// ...) fails with relay.ErrUnknownEngine, which lists the engines there are.
