package enqueue

import (
	"encoding/json"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// encoding/json matches object keys to struct fields case-insensitively and
// keeps the last of repeated keys. LeadSquared's field names are exact, so
// campaign lines are decoded here instead, against a schema taken from the
// json tags of the Go types: every unknown, mis-cased or repeated key and
// every value of the wrong JSON type is reported with its path, and the
// values of known fields are stored as they are checked. The checker expects
// valid JSON (json.Valid first).

type jsonKind uint8

const (
	kindAny jsonKind = iota
	kindString
	kindNumber
	kindBool
	kindObject
	kindArray
)

var kindNames = [...]string{"any value", "a string", "a number", "true or false", "an object", "an array"}

// schema describes the JSON a Go type decodes from. null is accepted
// anywhere and leaves the zero value, as with encoding/json; Validate judges
// required fields.
type schema struct {
	kind   jsonKind
	raw    bool              // a json.RawMessage: checked for kind, kept raw
	fields map[string]field  // object fields by exact name
	fold   map[string]string // lower-cased name -> exact name, for hints
	elem   *schema           // array elements
}

type field struct {
	*schema
	index int // of the struct field
}

var rawMessageType = reflect.TypeFor[json.RawMessage]()

func schemaOf(t reflect.Type) *schema {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == rawMessageType {
		return &schema{kind: kindObject, raw: true}
	}
	switch t.Kind() {
	case reflect.String:
		return &schema{kind: kindString}
	case reflect.Bool:
		return &schema{kind: kindBool}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return &schema{kind: kindNumber}
	case reflect.Slice, reflect.Array:
		return &schema{kind: kindArray, elem: schemaOf(t.Elem())}
	case reflect.Struct:
		s := &schema{kind: kindObject, fields: map[string]field{}, fold: map[string]string{}}
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			s.fields[name] = field{schemaOf(f.Type), i}
			s.fold[strings.ToLower(name)] = name
		}
		return s
	}
	return &schema{kind: kindAny}
}

// checker walks one valid JSON value, reports what does not fit a schema,
// and stores what does.
type checker struct {
	b   []byte
	i   int
	add func(field, reason string)
}

func (c *checker) ws() {
	for c.i < len(c.b) {
		switch c.b[c.i] {
		case ' ', '\t', '\r', '\n':
			c.i++
		default:
			return
		}
	}
}

// kind says which JSON type starts at c.i; ok is false for null.
func (c *checker) kind() (k jsonKind, ok bool) {
	switch c.b[c.i] {
	case '{':
		return kindObject, true
	case '[':
		return kindArray, true
	case '"':
		return kindString, true
	case 't', 'f':
		return kindBool, true
	case 'n':
		return kindAny, false
	}
	return kindNumber, true
}

// value checks the value at c.i against s (nil: an unknown field, skipped),
// stores it in dst (when valid) and moves past it. Its path is
// join(parent, name), built only when needed.
func (c *checker) value(s *schema, parent, name string, dst reflect.Value) {
	c.ws()
	k, ok := c.kind()
	switch {
	case s == nil || !ok: // unknown, or null: the zero value stays
		c.skip()
		return
	case s.kind != kindAny && k != s.kind:
		c.add(join(parent, name), "must be "+kindNames[s.kind]+", not "+kindNames[k])
		c.skip()
		return
	}
	if dst.IsValid() && dst.Kind() == reflect.Pointer {
		if dst.IsNil() {
			dst.Set(reflect.New(dst.Type().Elem()))
		}
		dst = dst.Elem()
	}
	start := c.i
	switch {
	case s.raw:
		c.skip()
		if dst.IsValid() {
			dst.SetBytes(c.b[start:c.i])
		}
	case k == kindObject && s.kind == kindObject:
		c.object(s, join(parent, name), dst)
	case k == kindString && dst.IsValid() && dst.Kind() == reflect.String:
		raw, escaped := c.str()
		dst.SetString(c.unquote(raw, escaped))
	case k == kindArray && s.elem != nil && !dst.IsValid():
		c.i++
		path := join(parent, name)
		for n := 0; ; n++ {
			c.ws()
			if c.b[c.i] == ']' {
				c.i++
				return
			}
			c.value(s.elem, "", path+"["+strconv.Itoa(n)+"]", reflect.Value{})
			c.ws()
			if c.b[c.i] == ',' {
				c.i++
			}
		}
	default: // numbers, booleans, arrays, any: rare here, leave them to encoding/json
		c.skip()
		if dst.IsValid() {
			if err := json.Unmarshal(c.b[start:c.i], dst.Addr().Interface()); err != nil {
				c.add(join(parent, name), err.Error())
			}
		}
	}
}

// object checks the object at c.i, storing known fields in dst.
func (c *checker) object(s *schema, path string, dst reflect.Value) {
	c.i++ // {
	var seen []string
	for {
		c.ws()
		if c.b[c.i] == '}' {
			c.i++
			return
		}
		name := c.key()
		c.ws()
		c.i++ // :
		f, known := s.fields[name]
		switch {
		case !known:
			if exact, ok := s.fold[strings.ToLower(name)]; ok {
				c.add(join(path, shown(name)), `unknown field; the name is "`+exact+`" (names are case-sensitive)`)
			} else {
				c.add(join(path, shown(name)), "unknown field")
			}
		case slices.Contains(seen, name):
			c.add(join(path, shown(name)), "repeated field")
		}
		seen = append(seen, name)
		var fdst reflect.Value
		if known && dst.IsValid() {
			fdst = dst.Field(f.index)
		}
		c.value(f.schema, path, name, fdst)
		c.ws()
		if c.b[c.i] == ',' {
			c.i++
		}
	}
}

// key reads an object key.
func (c *checker) key() string {
	raw, escaped := c.str()
	return c.unquote(raw, escaped)
}

func (c *checker) unquote(raw []byte, escaped bool) string {
	if !escaped {
		return string(raw)
	}
	var s string
	_ = json.Unmarshal(c.b[c.i-len(raw)-2:c.i], &s) // the quoted string just read
	return s
}

// str moves past the string at c.i and returns its raw content.
func (c *checker) str() (raw []byte, escaped bool) {
	start := c.i + 1
	j := start
	for ; j < len(c.b) && c.b[j] != '"'; j++ {
		if c.b[j] == '\\' {
			escaped = true
			j++
		}
	}
	c.i = j + 1
	return c.b[start:j], escaped
}

// skip moves past the value at c.i.
func (c *checker) skip() {
	c.ws()
	switch c.b[c.i] {
	case '"':
		c.str()
	case '{', '[':
		depth := 0
		for c.i < len(c.b) {
			switch c.b[c.i] {
			case '"':
				c.str()
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					c.i++
					return
				}
			}
			c.i++
		}
	default:
		for c.i < len(c.b) {
			switch c.b[c.i] {
			case ',', '}', ']', ' ', '\t', '\r', '\n':
				return
			}
			c.i++
		}
	}
}

// shown is an unknown field's name as a problem shows it: quoted when it is
// empty or holds anything but printable ASCII, so that a problem stays one
// line ("line 3: body.\"a\\nb\": unknown field").
func shown(name string) string {
	for i := 0; i < len(name); i++ {
		if name[i] <= ' ' || name[i] >= 0x7f || name[i] == '"' {
			return strconv.Quote(name)
		}
	}
	if name == "" {
		return `""`
	}
	return name
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}
