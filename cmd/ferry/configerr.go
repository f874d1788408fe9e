package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/ferry-tunnel/ferry/relay"
)

// tokenEnv carries the token for server and client, so that it is in
// neither ps nor a config file.
const tokenEnv = "FERRY_TOKEN"

// A configOrigin records where a subcommand's settings came from, so that a
// config error names what the user typed: the flag and its value, the -c
// file and its key, or the environment variable.
type configOrigin struct {
	file     string            // the -c file, or ""
	known    map[string]bool   // every flag the subcommand has
	bools    map[string]bool   // the flags that are switches
	set      map[string]string // the flags given, by name, with their values
	tunnels  []string          // the --tunnel specs given, in order
	target   string            // ferry expose's argument, its one tunnel's local address
	tokenEnv bool              // the token came from FERRY_TOKEN
}

// newConfigOrigin records what fs parsed, with the -c file.
func newConfigOrigin(fs *flag.FlagSet, file string) *configOrigin {
	o := &configOrigin{file: file, known: map[string]bool{}, bools: map[string]bool{}, set: map[string]string{}}
	fs.VisitAll(func(f *flag.Flag) {
		o.known[f.Name] = true
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			o.bools[f.Name] = true
		}
	})
	fs.Visit(func(f *flag.Flag) { o.set[f.Name] = f.Value.String() })
	if f := fs.Lookup("tunnel"); f != nil {
		if tf, ok := f.Value.(*tunnelsFlag); ok {
			o.tunnels = tf.raw
		}
	}
	return o
}

// applyToken settles which layer's token counts: --token or --token-file,
// then FERRY_TOKEN, then the file's token or token_file (the layers of the
// other settings, with the environment between flags and file). The winner
// clears the other field, so that the layer below cannot add to it; two
// ways given in one layer are an error (Validate reports the file's).
func (o *configOrigin) applyToken(token, tokenFile *string) error {
	_, flagToken := o.set["token"]
	_, flagFile := o.set["token-file"]
	switch {
	case flagToken && flagFile:
		return &userError{"--token and --token-file are both given; give one", relay.ErrConfig}
	case flagToken:
		*tokenFile = ""
	case flagFile:
		*token = ""
	default:
		if v := os.Getenv(tokenEnv); v != "" {
			*token, *tokenFile, o.tokenEnv = v, "", true
		}
	}
	return nil
}

// A userError is a config error in the user's words, as explain renders
// it; it still matches what it explains with errors.Is.
type userError struct {
	text string
	err  error
}

func (e *userError) Error() string { return e.text }
func (e *userError) Unwrap() error { return e.err }

// explain renders a config error for the command line: a key the user gave
// as a flag is named as that flag with its value (a --token's value never
// shown), one from the -c file as the file and key, a required one nobody
// gave with every way to give it; other keys the message mentions are
// spelled the same way. Other errors pass unchanged, but for the library's
// "relay: invalid config: " prefix, which a user of the binary need not see.
func (o *configOrigin) explain(err error) error {
	if err == nil {
		return nil
	}
	var ce *relay.ConfigError
	if !errors.As(err, &ce) {
		if errors.Is(err, relay.ErrConfig) {
			if text, ok := strings.CutPrefix(err.Error(), relay.ErrConfig.Error()+": "); ok {
				return &userError{text, err}
			}
		}
		return err
	}
	msg := ce.Message(o.spell)
	switch {
	case ce.File != "" && ce.Key != "":
		return &userError{ce.File + ": " + tomlKey(ce.Key) + ": " + msg, err}
	case ce.File != "":
		return &userError{ce.File + ": " + msg, err}
	case ce.Unset:
		return &userError{ce.Key + ": " + msg + "; give " + o.waysToGive(ce.Key), err}
	}
	return &userError{o.where(ce.Key, msg) + ": " + msg, err}
}

// where names the setting behind key as the user gave it, for an error
// saying msg.
func (o *configOrigin) where(key, msg string) string {
	root, i := splitKey(key)
	switch {
	case root == "tunnels" && o.target != "":
		// ferry expose: its one tunnel is its argument and two flags.
		switch {
		case strings.HasSuffix(key, ".name"):
			root = "name"
		case strings.HasSuffix(key, ".public_port"):
			root = "public_port"
		default:
			return fmt.Sprintf("argument %q", o.target)
		}
	case root == "tunnels" && len(o.tunnels) > 0:
		if i >= 0 && i < len(o.tunnels) {
			return fmt.Sprintf("--tunnel %q", o.tunnels[i])
		}
		return "--tunnel"
	case root == "token" && o.tokenEnv:
		return tokenEnv
	}
	name := flagName(root)
	if v, ok := o.set[name]; ok {
		// The value, unless it is a secret (not for the terminal or the
		// journal), a switch, or quoted in msg already.
		if name == "token" || o.bools[name] || strings.Contains(msg, strconv.Quote(v)) {
			return "--" + name
		}
		return fmt.Sprintf("--%s %q", name, v)
	}
	if o.file != "" {
		return o.file + ": " + tomlKey(key)
	}
	if o.known[name] {
		return "--" + name // its default, which the flag changes
	}
	return key
}

// spell names another key a message mentions: as a flag where the user
// gives flags (no -c file, or the flag was given), else as the TOML key.
func (o *configOrigin) spell(key string) string {
	name := flagName(key)
	if _, given := o.set[name]; o.known[name] && (o.file == "" || given) {
		return "--" + name
	}
	return key
}

// waysToGive lists how a required key can be given.
func (o *configOrigin) waysToGive(key string) string {
	switch key {
	case "token":
		return "it with --token, --token-file, " + tokenEnv + ", or token or token_file in the -c file"
	case "tunnels":
		return "one with --tunnel NAME=LOCAL_HOST:LOCAL_PORT:PUBLIC_PORT (repeatable), or [[tunnels]] in the -c file"
	}
	if o.known[flagName(key)] {
		return "it with --" + flagName(key) + ", or " + key + " in the -c file"
	}
	return key + " in the -c file"
}

// flagName is the flag for a top-level TOML key: heartbeat_interval is
// --heartbeat-interval; tunnels is --tunnel.
func flagName(key string) string {
	if key == "tunnels" {
		return "tunnel"
	}
	return strings.ReplaceAll(key, "_", "-")
}

// splitKey splits "tunnels[1].local" into "tunnels" and 1; a key without an
// index gives its top-level name and -1.
func splitKey(key string) (root string, index int) {
	root, _, _ = strings.Cut(key, ".")
	name, rest, ok := strings.Cut(root, "[")
	if !ok {
		return root, -1
	}
	n, err := strconv.Atoi(strings.TrimSuffix(rest, "]"))
	if err != nil {
		return name, -1
	}
	return name, n
}

// tomlKey spells a key as a TOML file's reader finds it: "tunnels[1].local"
// is "local in [[tunnels]] #2".
func tomlKey(key string) string {
	root, i := splitKey(key)
	_, rest, ok := strings.Cut(key, ".")
	if i < 0 || !ok {
		return key
	}
	return fmt.Sprintf("%s in [[%s]] #%d", rest, root, i+1)
}

// tokenFlags defines --token and --token-file, bound to the config's Token
// and TokenFile; applyToken settles them against the environment and file.
func tokenFlags(fs *flag.FlagSet, token, tokenFile *string, usage string) {
	fs.StringVar(token, "token", "", usage)
	fs.StringVar(tokenFile, "token-file", "", "read the token from this `file` (trailing newline trimmed); keeps it out of ps")
}
