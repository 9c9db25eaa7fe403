package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"

	"github.com/rampart-dev/rampart"
)

// decodeBody reads the request body as exactly one JSON object into v (a
// pointer to a struct). It refuses anything a careless client might send
// by mistake and that would otherwise be silently ignored: another media
// type, unknown fields (a typo would drop the setting), and data after the
// object (two objects concatenated by a script). Each refusal says how to
// fix the request.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	if err := requireJSON(r); err != nil {
		return err
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return &httpError{
				status: http.StatusRequestEntityTooLarge,
				code:   rampart.CodeRequestTooLarge,
				msg:    fmt.Sprintf("request body is larger than %d bytes (1 MiB): the API only takes small JSON objects", MaxBodyBytes),
			}
		}
		return invalid("reading the request body: %v", err)
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return invalid("request body is empty: send a JSON object, e.g. %s", example(v))
	}
	if trimmed[0] != '{' {
		return invalid("request body must be a JSON object ({…}), e.g. %s", example(v))
	}
	if err := checkKeys(trimmed, v); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err, v)
	}
	if _, err := dec.Token(); err != io.EOF {
		return invalid("request body has more data after the JSON object: send exactly one object")
	}
	return nil
}

// checkKeys checks the keys of the JSON object in body against v's fields.
// encoding/json alone would take "Name" for "name" and let a repeated key
// silently override the first; both are refused here, so that what the
// client meant and what the server did cannot differ.
func checkKeys(body []byte, v any) error {
	return checkObject(body, reflect.TypeOf(v), "", v)
}

// checkObject checks the keys of one JSON object against the struct type t,
// and recurses into values that are objects decoded into structs, so that a
// typo inside "rate_limit" is caught like one at the top. prefix is the path
// of the object ("rate_limit."), for messages.
func checkObject(body []byte, t reflect.Type, prefix string, v any) error {
	fields := jsonFieldTypes(t)
	names := jsonFields(t)
	dec := json.NewDecoder(bytes.NewReader(body))
	if _, err := dec.Token(); err != nil { // the '{', checked by the caller
		return decodeError(err, v)
	}
	seen := make(map[string]bool, len(fields))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return decodeError(err, v)
		}
		key, _ := tok.(string) // the decoder only returns strings in key position
		ft, ok := fields[key]
		if !ok {
			return unknownFieldIn(prefix, key, names)
		}
		if seen[key] {
			return invalid("field %q is given twice: give it once", prefix+key)
		}
		seen[key] = true
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return decodeError(err, v)
		}
		if st := structType(ft); st != nil && len(val) > 0 && val[0] == '{' {
			if err := checkObject(val, st, prefix+key+".", v); err != nil {
				return err
			}
		} else if ft.Kind() == reflect.Map && len(val) > 0 && val[0] == '{' {
			if err := checkMapKeys(val, prefix+key+".", v); err != nil {
				return err
			}
		}
	}
	return nil // a missing '}' is reported by the decoding that follows
}

// checkMapKeys refuses a key given twice in a JSON object decoded into a
// map ("env"), where encoding/json would let the last one win.
func checkMapKeys(body []byte, prefix string, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if _, err := dec.Token(); err != nil {
		return decodeError(err, v)
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return decodeError(err, v)
		}
		key, _ := tok.(string)
		if seen[key] {
			return invalid("field %q is given twice: give it once", prefix+key)
		}
		seen[key] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return decodeError(err, v)
		}
	}
	return nil
}

// structType returns the struct type behind t (through pointers) when JSON
// decodes it field by field, nil otherwise (time.Time and other types with
// their own UnmarshalJSON are opaque here).
func structType(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || reflect.PointerTo(t).Implements(reflect.TypeFor[json.Unmarshaler]()) {
		return nil
	}
	return t
}

// requireJSON checks the Content-Type. A form post or a text/plain body is
// refused rather than guessed at, which also keeps simple cross-site form
// submissions from reaching the handlers.
func requireJSON(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && mt == "application/json" {
		return nil
	}
	what := "no Content-Type"
	if ct != "" {
		what = fmt.Sprintf("Content-Type %q", ct)
	}
	return &httpError{
		status: http.StatusUnsupportedMediaType,
		code:   rampart.CodeUnsupportedMediaType,
		msg:    "request has " + what + ": send a JSON body with the header Content-Type: application/json",
	}
}

// decodeError rewrites encoding/json's errors, which name Go types, in terms
// of the JSON the client sent.
func decodeError(err error, v any) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return invalid("request body is not valid JSON at byte %d: %v", syntax.Offset, syntax)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return invalid("request body ends before the JSON object is complete")
	case errors.As(err, &typ):
		if typ.Field == "" {
			return invalid("request body must be a JSON object, not %s", article(typ.Value))
		}
		return invalid("field %q must be %s, not %s", typ.Field, describe(typ.Type), article(typ.Value))
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return unknownField(strings.Trim(name, `"`), v)
	}
	return invalid("request body could not be read as JSON: %v", err)
}

func unknownField(name string, v any) error {
	return unknownFieldIn("", name, jsonFields(reflect.TypeOf(v)))
}

// unknownFieldIn reports key as unknown in the object at prefix, whose
// fields are fields.
func unknownFieldIn(prefix, key string, fields []string) error {
	if s := suggest(key, fields); s != "" {
		return invalid("unknown field %q: did you mean %q?", prefix+key, prefix+s)
	}
	where := "the fields are"
	if prefix != "" {
		where = fmt.Sprintf("the fields of %s are", strings.TrimSuffix(prefix, "."))
	}
	return invalid("unknown field %q: %s %s", prefix+key, where, strings.Join(quoteAll(fields), ", "))
}

// jsonField is one field of a struct as encoding/json sees it.
type jsonField struct {
	name string
	typ  reflect.Type
}

// jsonFieldsOf lists the JSON fields of a struct type (through pointers), in
// order, with embedded structs' fields in place.
func jsonFieldsOf(t reflect.Type) []jsonField {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var out []jsonField
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case name == "-":
			continue
		case f.Anonymous && name == "":
			out = append(out, jsonFieldsOf(f.Type)...)
			continue
		case name == "":
			name = f.Name
		}
		out = append(out, jsonField{name, f.Type})
	}
	return out
}

// jsonFields lists the JSON names of a struct's fields, in order.
func jsonFields(t reflect.Type) []string {
	var names []string
	for _, f := range jsonFieldsOf(t) {
		names = append(names, f.name)
	}
	return names
}

// jsonFieldTypes maps the JSON names of a struct's fields to their types.
func jsonFieldTypes(t reflect.Type) map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for _, f := range jsonFieldsOf(t) {
		m[f.name] = f.typ
	}
	return m
}

// suggest returns the known field closest to name, if one is close enough
// to be a typo: a different case, a missing or extra plural "s", or an edit
// distance of at most 2.
func suggest(name string, known []string) string {
	best, bestDist := "", 3
	for _, k := range known {
		if strings.EqualFold(k, name) {
			return k
		}
		if d := editDistance(strings.ToLower(name), k); d < bestDist {
			best, bestDist = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// describe names the JSON a Go type accepts.
func describe(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Bool {
			return "an array of booleans"
		}
		d := describe(t.Elem())
		_, d, _ = strings.Cut(d, " ")
		return "an array of " + d + "s"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "a " + t.String()
}

// article turns encoding/json's name for a JSON value ("string", "array")
// into a phrase.
func article(value string) string {
	switch {
	case value == "":
		return "that value"
	case strings.HasPrefix(value, "number "):
		return "a number" // encoding/json says "number 1.5" for non-integers
	case strings.ContainsAny(value[:1], "aeiou"):
		return "an " + value
	}
	return "a " + value
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}

// example is a skeleton of the JSON object v stands for, for error messages.
func example(v any) string {
	fields := jsonFields(reflect.TypeOf(v))
	parts := make([]string, len(fields))
	for i, f := range fields {
		parts[i] = fmt.Sprintf("%q: …", f)
	}
	return "{" + strings.Join(parts, ", ") + "}"
}
