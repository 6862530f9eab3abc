package api

import (
	"encoding"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/state"
	"github.com/waterchain/waterchain/node/imaging"
)

// The OpenAPI 3 document is built from the route table and, by reflection,
// from the Go types the routes answer, so that neither can drift from it.

// textSchemas are the schemas of the types that encode themselves
// (json.Marshaler, encoding.TextMarshaler). A new such type must be added
// here: OpenAPI refuses to guess.
var textSchemas = map[reflect.Type]map[string]any{
	reflect.TypeOf(chain.Hash{}):         {"type": "string", "pattern": "^[0-9a-f]{64}$", "description": "SHA-256, hex"},
	reflect.TypeOf(chain.PubKey{}):       {"type": "string", "pattern": "^[0-9a-f]{64}$", "description": "ed25519 public key, hex"},
	reflect.TypeOf(chain.Address{}):      {"type": "string", "pattern": "^wc[0-9a-f]{40}$"},
	reflect.TypeOf(chain.Signature{}):    {"type": "string", "pattern": "^([0-9a-f]{2})*$", "description": "ed25519 signature, hex"},
	reflect.TypeOf(chain.HexBytes{}):     {"type": "string", "pattern": "^([0-9a-f]{2})*$"},
	reflect.TypeOf(chain.Lane(0)):        {"type": "string", "enum": []string{"data", "tx"}},
	reflect.TypeOf(chain.Time(0)):        {"type": "string", "format": "date-time", "description": "RFC 3339 with milliseconds (a number of Unix milliseconds outside years 0-9999)"},
	reflect.TypeOf(chain.Duration(0)):    {"type": "string", "description": "Go duration, such as 1h30m"},
	reflect.TypeOf(imaging.Class(0)):     {"type": "string"},
	reflect.TypeOf(state.OfferStatus(0)): {"type": "string"},
}

var (
	marshalerType     = reflect.TypeOf((*json.Marshaler)(nil)).Elem()
	textMarshalerType = reflect.TypeOf((*encoding.TextMarshaler)(nil)).Elem()
)

// schemaBuilder collects named component schemas.
type schemaBuilder struct {
	components map[string]any
	err        error
}

var componentName = regexp.MustCompile(`[^A-Za-z0-9._-]`)

func (b *schemaBuilder) schema(t reflect.Type) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if s, ok := textSchemas[t]; ok {
		return s
	}
	if t.Implements(marshalerType) || reflect.PointerTo(t).Implements(marshalerType) ||
		t.Implements(textMarshalerType) || reflect.PointerTo(t).Implements(textMarshalerType) {
		if b.err == nil {
			b.err = fmt.Errorf("api: %s encodes itself; give it a schema in textSchemas", t)
		}
		return map[string]any{}
	}
	switch t.Kind() {
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return map[string]any{"type": "integer", "format": "int64"}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer", "format": "int64", "minimum": 0}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "format": "byte"}
		}
		return map[string]any{"type": "array", "items": b.schema(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": b.schema(t.Elem())}
	case reflect.Interface:
		return map[string]any{}
	case reflect.Struct:
		if t.Name() == "" {
			return b.object(t)
		}
		name := componentName.ReplaceAllString(t.String(), "_")
		if _, ok := b.components[name]; !ok {
			b.components[name] = nil // a placeholder: types may refer to themselves
			b.components[name] = b.object(t)
		}
		return map[string]any{"$ref": "#/components/schemas/" + name}
	}
	if b.err == nil {
		b.err = fmt.Errorf("api: no schema for %s", t)
	}
	return map[string]any{}
}

// object is the schema of a struct as encoding/json writes it: embedded
// structs' fields inline, omitempty fields optional.
func (b *schemaBuilder) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	var add func(t reflect.Type)
	add = func(t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			ft := f.Type
			if f.Anonymous && name == "" {
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct {
					add(ft)
					continue
				}
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = f.Name
			}
			props[name] = b.schema(ft)
			if !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") {
				required = append(required, name)
			}
		}
	}
	add(t)
	s := map[string]any{"type": "object", "properties": props}
	if len(required) > 0 {
		sort.Strings(required)
		s["required"] = required
	}
	return s
}

// OpenAPI returns the API's OpenAPI 3 document.
func OpenAPI() ([]byte, error) {
	openAPIOnce.Do(func() { openAPIDoc, openAPIErr = buildOpenAPI() })
	return openAPIDoc, openAPIErr
}

var (
	openAPIOnce sync.Once
	openAPIDoc  []byte
	openAPIErr  error
)

func buildOpenAPI() ([]byte, error) {
	b := &schemaBuilder{components: map[string]any{}}
	errSchema := b.schema(reflect.TypeOf(Error{}))
	paths := map[string]map[string]any{}
	for _, rt := range (&server{}).routes() {
		op := map[string]any{"summary": rt.summary, "operationId": operationID(rt)}
		var params []any
		for _, p := range rt.params {
			ps := map[string]any{"type": p.typ}
			if p.format != "" {
				ps["format"] = p.format
			}
			params = append(params, map[string]any{
				"name": p.name, "in": p.in, "required": p.required, "description": p.desc, "schema": ps,
			})
		}
		if len(params) > 0 {
			op["parameters"] = params
		}
		if rt.request != nil {
			content := map[string]any{}
			for _, ct := range rt.request.types {
				s := map[string]any{"type": "string", "format": "binary"}
				if rt.request.schema != nil {
					s = b.schema(reflect.TypeOf(rt.request.schema))
				}
				content[ct] = map[string]any{"schema": s}
			}
			op["requestBody"] = map[string]any{"required": true, "content": content}
		}
		content := map[string]any{}
		if rt.answer != nil {
			content["application/json"] = map[string]any{"schema": b.schema(reflect.TypeOf(rt.answer))}
		}
		for _, ct := range rt.raw {
			content[ct] = map[string]any{"schema": map[string]any{"type": "string", "format": "binary"}}
		}
		responses := map[string]any{
			strconv.Itoa(rt.status): map[string]any{"description": http.StatusText(rt.status), "content": content},
		}
		errContent := map[string]any{"application/json": map[string]any{"schema": errSchema}}
		for _, code := range append(slices.Clone(rt.errors), universalErrors...) {
			responses[strconv.Itoa(code)] = map[string]any{"description": http.StatusText(code), "content": errContent}
		}
		if rt.path == "/v1/readings" && rt.method == http.MethodPost {
			responses[strconv.Itoa(http.StatusMultiStatus)] = map[string]any{
				"description": "Some readings accepted, some refused", "content": content,
			}
		}
		op["responses"] = responses
		if paths[rt.path] == nil {
			paths[rt.path] = map[string]any{}
		}
		paths[rt.path][strings.ToLower(rt.method)] = op
	}
	if b.err != nil {
		return nil, b.err
	}
	doc := map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{
			"title":       "Waterchain node API",
			"version":     "1",
			"description": "Every error is {\"error\": \"...\", \"code\": \"...\"} with a fitting status. Amounts are integers on the chain's scales.",
		},
		"paths":      paths,
		"components": map[string]any{"schemas": b.components},
	}
	return json.MarshalIndent(doc, "", "  ")
}

// operationID names a route for client generators: getV1BlocksLaneHeight.
func operationID(rt route) string {
	var sb strings.Builder
	sb.WriteString(strings.ToLower(rt.method))
	for _, part := range strings.FieldsFunc(rt.path, func(r rune) bool { return r == '/' || r == '{' || r == '}' || r == '.' || r == '_' }) {
		sb.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return sb.String()
}

func (s *server) openapi(w http.ResponseWriter, _ *request) {
	doc, err := OpenAPI()
	if err != nil {
		s.fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(doc)
}
