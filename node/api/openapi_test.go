package api

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
)

// openAPIDocument is the part of the document the tests read.
type openAPIDocument struct {
	OpenAPI string `json:"openapi"`
	Paths   map[string]map[string]struct {
		OperationID string `json:"operationId"`
		Parameters  []struct {
			Name     string `json:"name"`
			In       string `json:"in"`
			Required bool   `json:"required"`
		} `json:"parameters"`
		Responses map[string]json.RawMessage `json:"responses"`
	} `json:"paths"`
	Components struct {
		Schemas map[string]json.RawMessage `json:"schemas"`
	} `json:"components"`
}

func loadOpenAPI(t *testing.T) (openAPIDocument, []byte) {
	t.Helper()
	raw, err := OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	var doc openAPIDocument
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	return doc, raw
}

// TestOpenAPIMatchesRouter walks the router the server really has
// (chi.Walk) and checks that every route is documented with its method,
// every documented path and method is routed, and each path's {params}
// are documented as required path parameters.
func TestOpenAPIMatchesRouter(t *testing.T) {
	doc, _ := loadOpenAPI(t)
	if doc.OpenAPI != "3.0.3" {
		t.Fatalf("openapi %q", doc.OpenAPI)
	}
	routed := map[string]bool{}
	h := NewHandler(newFake(), Options{})
	err := chi.Walk(h.(chi.Routes), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		route = strings.TrimSuffix(route, "/") // chi.Walk writes a subrouter's root with a slash
		if !strings.HasPrefix(route, "/v1/") {
			return nil // mounted by Options.Extra: the dashboard, /metrics
		}
		routed[method+" "+route] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	pathParam := regexp.MustCompile(`\{([^}]+)\}`)
	ids := map[string]string{}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			key := strings.ToUpper(method) + " " + path
			documented[key] = true
			if prev, dup := ids[op.OperationID]; dup || op.OperationID == "" {
				t.Errorf("%s: operationId %q (also %s)", key, op.OperationID, prev)
			}
			ids[op.OperationID] = key
			var want, got []string
			for _, m := range pathParam.FindAllStringSubmatch(path, -1) {
				want = append(want, m[1])
			}
			for _, p := range op.Parameters {
				if p.In == "path" {
					if !p.Required {
						t.Errorf("%s: path parameter %s not required", key, p.Name)
					}
					got = append(got, p.Name)
				}
			}
			if !slices.Equal(want, got) {
				t.Errorf("%s: path parameters %v documented, the path has %v", key, got, want)
			}
			if len(op.Responses) < 2 {
				t.Errorf("%s: %d responses documented", key, len(op.Responses))
			}
		}
	}
	for k := range routed {
		if !documented[k] {
			t.Errorf("%s is routed but not in /v1/openapi.json", k)
		}
	}
	for k := range documented {
		if !routed[k] {
			t.Errorf("%s is in /v1/openapi.json but not routed", k)
		}
	}
	if len(routed) < 25 {
		t.Errorf("only %d routes walked", len(routed))
	}
}

// TestOpenAPIRefsResolve: every $ref names a component the document
// defines, and every component is used, so a client generator finds each
// type.
func TestOpenAPIRefsResolve(t *testing.T) {
	doc, raw := loadOpenAPI(t)
	used := map[string]bool{}
	for _, m := range regexp.MustCompile(`"\$ref": "#/components/schemas/([^"]+)"`).FindAllSubmatch(raw, -1) {
		name := string(m[1])
		used[name] = true
		if _, ok := doc.Components.Schemas[name]; !ok {
			t.Errorf("$ref to undefined schema %s", name)
		}
	}
	var unused []string
	for name := range doc.Components.Schemas {
		if !used[name] {
			unused = append(unused, name)
		}
	}
	sort.Strings(unused)
	if len(unused) > 0 {
		t.Errorf("schemas defined but never used: %v", unused)
	}
	for _, want := range []string{"api.Status", "api.ReadingStatus", "chain.Reading", "api.Error", "report.Report"} {
		if _, ok := doc.Components.Schemas[want]; !ok {
			t.Errorf("no schema %s", want)
		}
	}
}

// TestOpenAPISchemasFollowJSONTags: a schema says what encoding/json
// writes: tag names, embedded fields inline, omitempty fields optional,
// chain types as the strings they encode to.
func TestOpenAPISchemasFollowJSONTags(t *testing.T) {
	doc, _ := loadOpenAPI(t)
	var rs struct {
		Properties map[string]map[string]any `json:"properties"`
		Required   []string                  `json:"required"`
	}
	if err := json.Unmarshal(doc.Components.Schemas["api.ReadingStatus"], &rs); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rs.Required, []string{"hash", "status"}) {
		t.Errorf("ReadingStatus required %v, want [hash status]", rs.Required)
	}
	if rs.Properties["hash"]["pattern"] != "^[0-9a-f]{64}$" || rs.Properties["index"]["type"] != "integer" {
		t.Errorf("ReadingStatus properties %v", rs.Properties)
	}
	var bv struct {
		Properties map[string]any `json:"properties"`
	}
	if err := json.Unmarshal(doc.Components.Schemas["api.BlockView"], &bv); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"hash", "header", "cert"} {
		if bv.Properties[f] == nil {
			t.Errorf("BlockView has no %s: embedded *chain.Block not inlined (%v)", f, bv.Properties)
		}
	}
}

// TestOpenAPIServed: GET /v1/openapi.json serves the document.
func TestOpenAPIServed(t *testing.T) {
	at := newAPITest(t)
	a := at.do("GET", "/v1/openapi.json", "", nil)
	_, raw := loadOpenAPI(t)
	if a.status != 200 || a.header.Get("Content-Type") != "application/json" || string(a.body) != string(raw) {
		t.Fatalf("GET /v1/openapi.json: %d %s", a.status, a.header.Get("Content-Type"))
	}
}
