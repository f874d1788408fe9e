package all

// One blank import per engine package; each registers itself in init.
import (
	_ "github.com/ferry-tunnel/ferry/variants/epollcopy"
	_ "github.com/ferry-tunnel/ferry/variants/epollsplice"
	_ "github.com/ferry-tunnel/ferry/variants/gocopy"
	_ "github.com/ferry-tunnel/ferry/variants/gocopybuf"
)
