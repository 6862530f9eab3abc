package ingest

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEExamples decodes the copy-paste bodies of README.md and checks
// that they are the worked example's reading, with a valid signature.
func TestREADMEExamples(t *testing.T) {
	raw, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var bodies []struct{ ct, body string }
	for _, block := range strings.Split(string(raw), "<<'EOF'\n")[1:] {
		body, _, ok := strings.Cut(block, "\nEOF\n")
		if !ok {
			t.Fatal("README: heredoc without EOF")
		}
		ct := ContentTypeJSON
		if i := strings.LastIndex(strings.Split(string(raw), block)[0], "Content-Type: "); i >= 0 && strings.HasPrefix(string(raw)[i+len("Content-Type: "):], ContentTypeSenML) {
			ct = ContentTypeSenML
		}
		bodies = append(bodies, struct{ ct, body string }{ct, body})
	}
	if len(bodies) != 2 || bodies[0].ct != ContentTypeSenML || bodies[1].ct != ContentTypeJSON {
		t.Fatalf("README: want a SenML then a native example, found %d", len(bodies))
	}
	var first string
	for _, b := range bodies {
		rs, err := Decode(b.ct, []byte(b.body))
		if err != nil {
			t.Fatalf("README %s example: %v", b.ct, err)
		}
		if len(rs) != 1 {
			t.Fatalf("README %s example: %d readings", b.ct, len(rs))
		}
		if err := rs[0].VerifySignature("waterchain-devnet"); err != nil {
			t.Fatalf("README %s example: %v", b.ct, err)
		}
		if first == "" {
			first = string(rs[0].Encode())
		} else if string(rs[0].Encode()) != first {
			t.Fatal("README: the SenML and native examples are different readings")
		}
	}
}
