package relay

import (
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"unicode"
)

// placeholderTokens are the tokens docs/examples shipped before it used token
// files: a config copied without replacing them must not start, since
// anyone who read the docs knows them.
var placeholderTokens = []string{"change-me-to-a-long-random-string", "another-long-random-string"}

// minTokenLen is the shortest token that starts without a warning. A token
// can be tried from the network, and in clear tested offline against one
// observed handshake; 16 characters is the least that is not guessed at
// once. The docs recommend 64 hex digits (openssl rand -hex 32).
const minTokenLen = 16

// A looseFile is a token file other users can read, for a warning.
type looseFile struct {
	path string
	mode os.FileMode
}

// loadToken reads *file, when set, into *token and clears *file, so that a
// second Validate finds the token and no file. Both set is an error, as is
// a file that cannot be read or holds nothing but white space. A file other
// users can read is noted in *loose, for the log. Whichever way it came,
// the token must not be a placeholder from the docs.
func loadToken(token, file *string, loose **looseFile) error {
	key := "token"
	if *file != "" {
		key = "token_file"
		if *token != "" {
			return configErr("token_file", "%s and %s are both set; give one", keyRef("token"), keyRef("token_file"))
		}
		b, err := os.ReadFile(*file)
		if err != nil {
			return configErr("token_file", "cannot read the token: %v", err)
		}
		t := strings.TrimRightFunc(string(b), unicode.IsSpace)
		if t == "" {
			return configErr("token_file", "%s is empty", *file)
		}
		if fi, err := os.Stat(*file); err == nil && fi.Mode().Perm()&0o044 != 0 {
			*loose = &looseFile{*file, fi.Mode().Perm()}
		}
		*token, *file = t, ""
	}
	return checkPlaceholder(key, *token)
}

// checkPlaceholder refuses a token the docs published.
func checkPlaceholder(key, token string) error {
	if slices.Contains(placeholderTokens, token) {
		return configErr(key, "the token is the placeholder from docs/examples, which anyone can read; make a secret one: openssl rand -hex 32")
	}
	return nil
}

// warnTokens logs, once at start, what about the tokens deserves a look but
// need not stop ferry: a token file others can read, a short token. tokens
// maps each token's key to it.
func warnTokens(log *slog.Logger, loose *looseFile, tokens map[string]string) {
	if loose != nil {
		log.Warn("the token file is readable by other users; make it readable by ferry's user alone (chmod 600)",
			"file", loose.path, "mode", fmt.Sprintf("%#o", loose.mode))
	}
	keys := make([]string, 0, len(tokens))
	for k := range tokens {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if t := tokens[k]; t != "" && len(t) < minTokenLen {
			log.Warn(fmt.Sprintf("the token is shorter than %d characters and may be guessed; use a long random one: openssl rand -hex 32", minTokenLen), "key", k, "length", len(t))
		}
	}
}
