package enqueue

import (
	"encoding/json"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// encoding/json matches object keys to struct fields case-insensitively and
// keeps the last of repeated keys. LeadSquared's field names are exact, so a
// campaign line is first checked here, key by key, against a schema taken
// from the body types' json tags: every unknown, mis-cased or repeated key
// and every value of the wrong JSON type is reported, with its path. Only a
// line that passes is decoded with encoding/json. The checker expects valid
// JSON (json.Valid first).

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
// anywhere (encoding/json leaves the zero value); Validate judges required
// fields.
type schema struct {
	kind   jsonKind
	fields map[string]*schema // object fields by exact name
	fold   map[string]string  // lower-cased name -> exact name, for hints
	elem   *schema            // array elements
}

func schemaOf(t reflect.Type) *schema {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
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
		s := &schema{kind: kindObject, fields: map[string]*schema{}, fold: map[string]string{}}
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
			s.fields[name] = schemaOf(f.Type)
			s.fold[strings.ToLower(name)] = name
		}
		return s
	}
	return &schema{kind: kindAny}
}

// checker walks one valid JSON value and reports what does not fit a schema.
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

// value checks the value at c.i against s (nil: skip it) and moves past it.
// Its path is join(parent, name), built only when needed.
func (c *checker) value(s *schema, parent, name string) {
	c.ws()
	if s == nil || s.kind == kindAny {
		c.skip()
		return
	}
	k, ok := c.kind()
	switch {
	case !ok:
		c.skip() // null
	case k != s.kind:
		c.add(join(parent, name), "must be "+kindNames[s.kind]+", not "+kindNames[k])
		c.skip()
	case k == kindObject:
		c.object(s, join(parent, name), nil)
	case k == kindArray:
		c.i++
		path := join(parent, name)
		for n := 0; ; n++ {
			c.ws()
			if c.b[c.i] == ']' {
				c.i++
				return
			}
			c.value(s.elem, "", path+"["+strconv.Itoa(n)+"]")
			c.ws()
			if c.b[c.i] == ',' {
				c.i++
			}
		}
	default:
		c.skip()
	}
}

// object checks the object at c.i. When spans is not nil, the values of
// known fields are not descended into but recorded there, raw.
func (c *checker) object(s *schema, path string, spans map[string][]byte) {
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
		sub, known := s.fields[name]
		switch {
		case !known:
			if exact, ok := s.fold[strings.ToLower(name)]; ok {
				c.add(join(path, name), `unknown field; the name is "`+exact+`" (names are case-sensitive)`)
			} else {
				c.add(join(path, name), "unknown field")
			}
		case slices.Contains(seen, name):
			c.add(join(path, name), "repeated field")
		}
		seen = append(seen, name)
		c.ws()
		if known && spans != nil {
			start := c.i
			if k, ok := c.kind(); ok && k != sub.kind && sub.kind != kindAny {
				c.add(join(path, name), "must be "+kindNames[sub.kind]+", not "+kindNames[k])
			}
			c.skip()
			spans[name] = c.b[start:c.i]
		} else {
			c.value(sub, path, name)
		}
		c.ws()
		if c.b[c.i] == ',' {
			c.i++
		}
	}
}

// key reads an object key.
func (c *checker) key() string {
	raw, escaped := c.str()
	if !escaped {
		return string(raw)
	}
	var s string
	_ = json.Unmarshal(c.b[c.i-len(raw)-2:c.i], &s)
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

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}
