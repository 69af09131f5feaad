package sandbox

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/lsqdispatch/lsqdispatch/leadsquared"
)

// errTooLarge reports a body over MaxBodyBytes.
var errTooLarge = errors.New("too large")

// decodeBody reads a JSON request body into v strictly: the Content-Type must
// be application/json, field names must match v's json tags exactly (case
// included), unknown and repeated fields are refused, value types must fit,
// and nothing may follow the object. encoding/json alone matches names
// case-insensitively and ignores unknown fields, which would let a body that
// LeadSquared refuses or misreads pass here.
//
// It returns the problems found, each naming its field, or errTooLarge.
func decodeBody(r *http.Request, v any) ([]leadsquared.FieldError, error) {
	if ct := r.Header.Get("Content-Type"); !isJSON(ct) {
		return []leadsquared.FieldError{{Field: "Content-Type",
			Reason: fmt.Sprintf("%q is not application/json", truncate(ct, 60))}}, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		return []leadsquared.FieldError{{Field: "body", Reason: "could not be read"}}, nil
	}
	if len(body) > MaxBodyBytes {
		return nil, errTooLarge
	}
	return strictUnmarshal(body, v), nil
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/json"
}

// strictUnmarshal decodes data into v (a pointer to a struct) strictly; see
// decodeBody.
func strictUnmarshal(data []byte, v any) []leadsquared.FieldError {
	if len(bytes.TrimSpace(data)) == 0 {
		return []leadsquared.FieldError{{Field: "body", Reason: "empty; send a JSON object"}}
	}
	if !json.Valid(data) {
		return []leadsquared.FieldError{{Field: "body", Reason: "not valid JSON" + trailingHint(data)}}
	}
	var p []leadsquared.FieldError
	checkObject(data, reflect.TypeOf(v).Elem(), "", &p)
	if len(p) > 0 {
		// encoding/json would misread these (case-insensitive names), so
		// the structure's problems are reported alone.
		return p
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return []leadsquared.FieldError{{Field: te.Field, Reason: "expected " + kindName(te.Type) + ", got " + te.Value}}
		}
		return []leadsquared.FieldError{{Field: "body", Reason: err.Error()}}
	}
	return nil
}

// trailingHint explains the commonest invalid body: two JSON values.
func trailingHint(data []byte) string {
	dec := json.NewDecoder(bytes.NewReader(data))
	var first json.RawMessage
	if dec.Decode(&first) == nil && dec.More() {
		return " (more data follows the first value)"
	}
	return ""
}

// checkObject checks the keys of the JSON value data against type t, whose
// json tags name the fields, recursing into struct-typed fields. data is
// valid JSON. A problem's Field is the dotted path of the key.
func checkObject(data []byte, t reflect.Type, prefix string, p *[]leadsquared.FieldError) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, _ := dec.Token()
	if tok == nil { // null: the struct stays empty
		return
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		field := strings.TrimSuffix(prefix, ".")
		if field == "" {
			field = "body"
		}
		*p = append(*p, leadsquared.FieldError{Field: field, Reason: "expected a JSON object, got " + jsonKind(tok)})
		return
	}
	fields := fieldsOf(t)
	seen := make(map[string]bool, len(fields))
	for dec.More() {
		tok, _ := dec.Token()
		key, _ := tok.(string)
		var val json.RawMessage
		_ = dec.Decode(&val)
		path := prefix + key
		f, ok := fields[key]
		switch {
		case !ok:
			reason := "unknown field"
			for name := range fields {
				if strings.EqualFold(name, key) {
					reason = fmt.Sprintf("unknown field (names are case-sensitive: did you mean %q?)", name)
					break
				}
			}
			*p = append(*p, leadsquared.FieldError{Field: path, Reason: reason})
		case seen[key]:
			*p = append(*p, leadsquared.FieldError{Field: path, Reason: "repeated"})
		default:
			seen[key] = true
			checkObject(val, f, path+".", p)
		}
	}
}

// fieldCache maps a struct type to its JSON field names and their types.
var fieldCache sync.Map // reflect.Type -> map[string]reflect.Type

func fieldsOf(t reflect.Type) map[string]reflect.Type {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string]reflect.Type)
	}
	m := make(map[string]reflect.Type, t.NumField())
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		m[cmp.Or(name, sf.Name)] = sf.Type
	}
	fieldCache.Store(t, m)
	return m
}

func jsonKind(tok json.Token) string {
	switch tok.(type) {
	case json.Delim:
		return "an array"
	case string:
		return "a string"
	case float64, json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return "null"
}

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Struct, reflect.Pointer, reflect.Map:
		return "a JSON object"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return "a number"
}

// truncate shortens s to at most n bytes, on a character boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
