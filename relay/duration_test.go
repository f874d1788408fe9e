package relay

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// A durationKey is a time.Duration field's TOML key: in an array of tables
// ([[table]]) when table is set. index is the field's, for reflection.
type durationKey struct {
	table, key string
	index      []int
}

// durationKeys lists the duration keys of the struct type t, found by
// reflection as LoadTOML finds them, so that a duration key added later is
// tested without being listed here.
func durationKeys(t reflect.Type) (keys []durationKey) {
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if name == "" || name == "-" {
			continue
		}
		switch {
		case f.Type == durationType:
			keys = append(keys, durationKey{key: name, index: f.Index})
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
			for _, k := range durationKeys(f.Type.Elem()) {
				k.table, k.index = name, append([]int{i}, k.index...)
				keys = append(keys, k)
			}
		}
	}
	return keys
}

// TestLoadTOMLBareDurations: every duration key of both configs takes a
// string with a unit, and refuses a bare number, integer or float, with an
// error naming the key and showing the fix: the TOML decoder alone reads
// dial_timeout = 5 as 5ns.
func TestLoadTOMLBareDurations(t *testing.T) {
	dir := t.TempDir()
	for _, cfg := range []any{&ServerConfig{}, &ClientConfig{}} {
		typ := reflect.TypeOf(cfg).Elem()
		keys := durationKeys(typ)
		if len(keys) < 6 {
			t.Fatalf("%s: found only %d duration keys: %v", typ.Name(), len(keys), keys)
		}
		for _, k := range keys {
			write := func(value string) string {
				text := k.key + " = " + value + "\n"
				if k.table != "" {
					text = "[[" + k.table + "]]\n" + text
				}
				p := filepath.Join(dir, "c.toml")
				if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
					t.Fatal(err)
				}
				return p
			}
			wantKey := k.key
			if k.table != "" {
				wantKey = k.table + "[0]." + k.key
			}
			for _, c := range []struct{ value, fix string }{
				{"5", `"5s"`},
				{"30", `"30s"`},
				{"2.5", `"2.5s"`},
				{"0", `"0s"`},
			} {
				path := write(c.value)
				err := LoadTOML(path, reflect.New(typ).Interface())
				var ce *ConfigError
				if !errors.As(err, &ce) || !errors.Is(err, ErrConfig) {
					t.Errorf("%s: %s = %s: err %v, want a *ConfigError", typ.Name(), wantKey, c.value, err)
					continue
				}
				fix := k.key + " = " + c.fix
				if ce.File != path || ce.Key != wantKey || !strings.Contains(ce.Message(nil), fix) {
					t.Errorf("%s: %s = %s: got file %q, key %q, %q; want %s, %s and the fix %s", typ.Name(), wantKey, c.value, ce.File, ce.Key, ce.Message(nil), path, wantKey, fix)
				}
			}
			// A string with a unit still works.
			v := reflect.New(typ)
			if err := LoadTOML(write(`"1m30s"`), v.Interface()); err != nil {
				t.Errorf("%s: %s = \"1m30s\": %v", typ.Name(), wantKey, err)
				continue
			}
			f := v.Elem()
			if k.table != "" {
				f = f.Field(k.index[0]).Index(0).FieldByIndex(k.index[1:])
			} else {
				f = f.FieldByIndex(k.index)
			}
			if got := time.Duration(f.Int()); got != 90*time.Second {
				t.Errorf("%s: %s = \"1m30s\" decoded as %v", typ.Name(), wantKey, got)
			}
		}
	}
}

// TestBareDurationInTables: a duration in an array of tables is found too,
// and named by its table's index, for a duration key a table may get later.
func TestBareDurationInTables(t *testing.T) {
	type item struct {
		Name    string        `toml:"name"`
		Timeout time.Duration `toml:"timeout"`
	}
	type conf struct {
		Items []item `toml:"items"`
	}
	p := filepath.Join(t.TempDir(), "c.toml")
	text := "[[items]]\nname = \"a\"\ntimeout = \"1s\"\n[[items]]\nname = \"b\"\ntimeout = 7\n"
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	err := LoadTOML(p, &conf{})
	if want := `items[1].timeout: 7 is a bare number; a duration needs a unit, as a string: timeout = "7s"`; err == nil || !strings.HasSuffix(err.Error(), want) {
		t.Errorf("got %v, want it to end %q", err, want)
	}
}
