package relay

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const longToken = "0123456789abcdef0123456789abcdef"

// tokenConfig is what the token tests need of both configs.
type tokenConfig interface {
	Validate() error
	tokenFields() (token, file *string)
}

func (c *ServerConfig) tokenFields() (*string, *string) { return &c.Token, &c.TokenFile }
func (c *ClientConfig) tokenFields() (*string, *string) { return &c.Token, &c.TokenFile }

func newTokenConfigs() map[string]tokenConfig {
	return map[string]tokenConfig{
		"server": &ServerConfig{Listen: "127.0.0.1:0"},
		"client": &ClientConfig{Server: "h:1", ID: "me", Tunnels: []TunnelConfig{{Name: "a", Local: "h:2"}}},
	}
}

func writeToken(t *testing.T, text string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte(text), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // past the umask
		t.Fatal(err)
	}
	return p
}

func TestTokenFile(t *testing.T) {
	for _, c := range []struct {
		name    string
		text    string // the file's; "-" for no file
		token   string
		want    string // the token Validate leaves, or "" for an error
		wantKey string // the error's key
	}{
		{name: "newline trimmed", text: longToken + "\n", want: longToken},
		{name: "trailing space trimmed", text: longToken + " \r\n\t\n", want: longToken},
		{name: "inner space kept", text: "two words in a long phrase\n", want: "two words in a long phrase"},
		{name: "empty", text: "", wantKey: "token_file"},
		{name: "white space only", text: " \n\n", wantKey: "token_file"},
		{name: "missing", text: "-", wantKey: "token_file"},
		{name: "token too", text: longToken, token: longToken, wantKey: "token_file"},
		{name: "placeholder", text: placeholderTokens[0] + "\n", wantKey: "token_file"},
	} {
		for side, cfg := range newTokenConfigs() {
			t.Run(c.name+"/"+side, func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "no-such-file")
				if c.text != "-" {
					path = writeToken(t, c.text, 0o600)
				}
				token, file := cfg.tokenFields()
				*token, *file = c.token, path
				err := cfg.Validate()
				if c.want == "" {
					var ce *ConfigError
					if !errors.As(err, &ce) || ce.Key != c.wantKey {
						t.Fatalf("err %v, want a config error about %s", err, c.wantKey)
					}
					if c.text == "-" && !strings.Contains(err.Error(), path) {
						t.Errorf("err %v does not name the file", err)
					}
					return
				}
				if err != nil || *token != c.want || *file != "" {
					t.Fatalf("got token %q, file %q, err %v; want %q and no file", *token, *file, err, c.want)
				}
				// NewServer and NewClient validate again: the token stays.
				if err := cfg.Validate(); err != nil || *token != c.want {
					t.Errorf("second Validate: token %q, err %v", *token, err)
				}
			})
		}
	}
}

func TestPlaceholderTokens(t *testing.T) {
	for _, p := range placeholderTokens {
		for side, cfg := range newTokenConfigs() {
			token, _ := cfg.tokenFields()
			*token = p
			var ce *ConfigError
			if err := cfg.Validate(); !errors.As(err, &ce) || ce.Key != "token" {
				t.Errorf("%s with token %q: err %v, want a config error about token", side, p, err)
			}
		}
		cfg := ServerConfig{Token: longToken, Clients: []ClientToken{{ID: "a", Token: longToken}, {ID: "b", Token: p}}}
		var ce *ConfigError
		if err := cfg.Validate(); !errors.As(err, &ce) || ce.Key != "clients[1].token" {
			t.Errorf("[[clients]] with token %q: err %v, want a config error about clients[1].token", p, err)
		}
	}
}

// TestTokenWarnings: a short token and a token file others can read are
// each logged once, at start, as warnings; a long token in a private file
// is not.
func TestTokenWarnings(t *testing.T) {
	for _, c := range []struct {
		name      string
		token     string
		mode      os.FileMode // of a token file; 0 for the token inline
		wantShort bool
		wantLoose bool
	}{
		{name: "long inline", token: longToken},
		{name: "short inline", token: "s3cret", wantShort: true},
		{name: "long private file", token: longToken, mode: 0o600},
		{name: "long file others read", token: longToken, mode: 0o644, wantLoose: true},
		{name: "long file the group reads", token: longToken, mode: 0o640, wantLoose: true},
		{name: "short file others read", token: "abc", mode: 0o604, wantShort: true, wantLoose: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, side := range []string{"server", "client"} {
				var buf bytes.Buffer
				log := slog.New(slog.NewTextHandler(&buf, nil))
				token, file := c.token, ""
				if c.mode != 0 {
					token, file = "", writeToken(t, c.token+"\n", c.mode)
				}
				switch side {
				case "server":
					srv, err := NewServer(ServerConfig{Listen: "127.0.0.1:0", Token: token, TokenFile: file, Logger: log})
					if err != nil {
						t.Fatal(err)
					}
					srv.Close()
				case "client":
					cl, err := NewClient(ClientConfig{Server: "h:1", ID: "me", Token: token, TokenFile: file, Tunnels: []TunnelConfig{{Name: "a", Local: "h:2"}}, Logger: log})
					if err != nil {
						t.Fatal(err)
					}
					cl.Close()
				}
				out := buf.String()
				short := strings.Count(out, "the token is shorter than 16 characters")
				loose := strings.Count(out, "the token file is readable by other users")
				if short != btoi(c.wantShort) || loose != btoi(c.wantLoose) || strings.Count(out, "level=WARN") != short+loose {
					t.Errorf("%s logged %d short-token and %d token-file warnings, want %d and %d:\n%s", side, short, loose, btoi(c.wantShort), btoi(c.wantLoose), out)
				}
				if strings.Contains(out, c.token) {
					t.Errorf("%s logged the token:\n%s", side, out)
				}
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
