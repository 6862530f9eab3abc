package node

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"image/color"
	"image/gif"
	"image/png"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/store"
	"github.com/waterchain/waterchain/node/alerts"
	"github.com/waterchain/waterchain/node/api"
	"github.com/waterchain/waterchain/node/images"
	"github.com/waterchain/waterchain/node/imaging"
	"github.com/waterchain/waterchain/sim/scenes"
)

// sceneJPEG draws a synthetic water scene and encodes it as a JPEG.
func sceneJPEG(t testing.TB, kind scenes.Kind, p scenes.Params, seed uint64) []byte {
	t.Helper()
	img, _, err := scenes.Draw(kind, p, seed)
	if err != nil {
		t.Fatal(err)
	}
	data, err := scenes.EncodeJPEG(img, 90)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// readingWithImage is signedReading with an image hash, signed after it is
// set so the device signature covers it.
func readingWithImage(chainID string, dev *chain.PrivateKey, seq uint64, at time.Time, h chain.Hash) *chain.Reading {
	r := signedReading(chainID, dev, seq, at)
	r.ImageHash = &h
	r.Sign(chainID, dev)
	return r
}

// httpDo sends a raw request to a node's API and returns the status, the
// Content-Type and the body of the answer.
func httpDo(t *testing.T, n *Node, method, path, ctype string, body []byte) (int, string, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+n.APIAddr()+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), raw
}

func putImage(t *testing.T, n *Node, h chain.Hash, ctype string, body []byte) (int, api.Error) {
	t.Helper()
	code, _, raw := httpDo(t, n, http.MethodPut, "/v1/images/"+h.String(), ctype, body)
	var e api.Error
	if code >= 300 {
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatalf("PUT image %s: %d %q: %v", h.Short(), code, raw, err)
		}
	}
	return code, e
}

// imageView is the node's KV under the prefix reserved for images. Its
// record kinds (node/images/records.go): f file, a metadata, r the final
// reading, m missing.
func imageView(t *testing.T, n *Node) *store.SubKV {
	t.Helper()
	v, err := store.Reserve(n.kv, store.PrefixImages)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// imageRecords counts the image file and metadata records a node holds
// for h.
func imageRecords(t *testing.T, n *Node, h chain.Hash) int {
	t.Helper()
	count := 0
	for _, kind := range []byte{'f', 'a'} {
		_, err := imageView(t, n).Get(append([]byte{kind}, h[:]...))
		switch {
		case err == nil:
			count++
		case !errors.Is(err, store.ErrNotFound):
			t.Fatal(err)
		}
	}
	return count
}

func countImageKeys(t *testing.T, n *Node, kind byte) int {
	t.Helper()
	count := 0
	if err := imageView(t, n).Iterate([]byte{kind}, store.IterOptions{}, func(k, v []byte) error {
		count++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return count
}

func waitPeers(t *testing.T, tn *testNet) {
	t.Helper()
	waitFor(t, 30*time.Second, "peers connected", func() bool {
		for _, n := range tn.nodes {
			if len(n.host.Peers()) < len(tn.nodes)-1 {
				return false
			}
		}
		return true
	})
}

func listAlerts(t *testing.T, n *Node, kind alerts.Kind) []alerts.Alert {
	t.Helper()
	var out []alerts.Alert
	if code := httpJSON(t, n, "GET", "/v1/alerts?kind="+string(kind), nil, &out); code != http.StatusOK {
		t.Fatalf("alerts: %d", code)
	}
	return out
}

// TestImageEndToEnd: readings with images are finalized; the images are
// served byte-identical with their hash matching the one on chain, with
// their analysis beside the reading's own turbidity, an overlay and a
// summary in GET /v1/readings; the auditor, which never got the upload,
// fetches them from the validator by itself, verifies them and serves the
// same bytes and figures; the analysis raises the image alerts.
func TestImageEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("network test")
	}
	tn := startTestNet(t, 1, 1, 1)
	defer func() {
		if t.Failed() {
			tn.dump()
		}
	}()
	val, aud := tn.nodes[0], tn.nodes[1]
	if val.Role() != RoleValidator || aud.Role() != RoleAuditor {
		t.Fatalf("roles %s, %s", val.Role(), aud.Role())
	}
	waitPeers(t, tn)

	chainID := val.ChainID()
	dev := tn.deviceKey(0)
	withObjects := sceneJPEG(t, scenes.KindClear, scenes.Params{Objects: 3}, 7)
	coloured := sceneJPEG(t, scenes.KindColoured, scenes.Params{Hue: 30}, 8)
	h1, h2 := chain.HashBytes(withObjects), chain.HashBytes(coloured)
	now := time.Now()
	r1 := readingWithImage(chainID, dev, 1, now.Add(-time.Second), h1)
	r2 := readingWithImage(chainID, dev, 2, now, h2)

	// Before its reading exists, an image is refused.
	if code, e := putImage(t, val, h1, "image/jpeg", withObjects); code != http.StatusUnprocessableEntity || e.Code != api.CodeRejected {
		t.Fatalf("image before its reading: %d %+v", code, e)
	}
	var res api.SubmitReadingsResult
	if code := httpJSON(t, val, "POST", "/v1/readings", []*chain.Reading{r1, r2}, &res); code != http.StatusAccepted {
		t.Fatalf("submit: %d %+v", code, res)
	}
	// The first image while its reading waits (the repeat is idempotent).
	for range 2 {
		if code, e := putImage(t, val, h1, "image/jpeg", withObjects); code != http.StatusCreated {
			t.Fatalf("upload %s: %d %+v", h1.Short(), code, e)
		}
	}
	waitFor(t, 30*time.Second, "both readings final on both nodes", func() bool {
		for _, n := range tn.nodes {
			d, err := n.Device(dev.Public())
			if err != nil || d.LastSeq != 2 {
				return false
			}
		}
		return true
	})
	// The second once its reading is final: the auditor, which found no
	// peer holding it at first, asks again and gets it.
	if code, e := putImage(t, val, h2, "image/jpeg", coloured); code != http.StatusCreated {
		t.Fatalf("upload %s: %d %+v", h2.Short(), code, e)
	}
	waitFor(t, 30*time.Second, "the auditor fetched both images from the validator", func() bool {
		return imageRecords(t, aud, h1) == 2 && imageRecords(t, aud, h2) == 2
	})

	for _, n := range tn.nodes {
		// The hash on chain is the hash of the served bytes.
		var rs api.Readings
		if code := httpJSON(t, n, "GET", "/v1/readings?device="+dev.Public().String(), nil, &rs); code != http.StatusOK || len(rs.Readings) != 2 {
			t.Fatalf("%s: readings: %d %+v", n.name, code, rs)
		}
		for i, want := range []struct {
			data  []byte
			class string
		}{{withObjects, "clear"}, {coloured, "coloured"}} {
			got := rs.Readings[i]
			if got.ImageHash == nil || *got.ImageHash != chain.HashBytes(want.data) {
				t.Fatalf("%s: reading %d carries image hash %v", n.name, got.Seq, got.ImageHash)
			}
			if got.Image == nil || got.Image.Hash != *got.ImageHash || got.Image.Class != want.class {
				t.Fatalf("%s: reading %d image summary %+v, want class %s", n.name, got.Seq, got.Image, want.class)
			}
			code, ctype, body := httpDo(t, n, "GET", "/v1/images/"+got.ImageHash.String(), "", nil)
			if code != http.StatusOK || ctype != "image/jpeg" {
				t.Fatalf("%s: GET image: %d %s %q", n.name, code, ctype, body)
			}
			if !bytes.Equal(body, want.data) || chain.HashBytes(body) != *got.ImageHash {
				t.Fatalf("%s: served image of seq %d differs from the upload (%d bytes, hash %s)", n.name, got.Seq, len(body), chain.HashBytes(body).Short())
			}
		}
		if rs.Readings[0].Image.Objects != 3 || rs.Readings[1].Image.Objects != 0 {
			t.Fatalf("%s: objects %d and %d, want 3 and 0", n.name, rs.Readings[0].Image.Objects, rs.Readings[1].Image.Objects)
		}
		if c := countImageKeys(t, n, 'm'); c != 0 {
			t.Fatalf("%s: %d images still marked missing", n.name, c)
		}
	}

	// Every node derives the same analysis, shown beside the reading's own
	// optical measures.
	var reports [2]images.Report
	for i, n := range tn.nodes {
		if code := httpJSON(t, n, "GET", "/v1/images/"+h1.String()+"/analysis", nil, &reports[i]); code != http.StatusOK {
			t.Fatalf("%s: analysis: %d", n.name, code)
		}
	}
	rep := reports[0]
	if rep.Hash != h1 || rep.Format != "jpeg" || int(rep.Bytes) != len(withObjects) || rep.Analysis == nil ||
		rep.Analysis.Class != imaging.ClassClear || rep.Analysis.ObjectCount != 3 || len(rep.Analysis.Objects) != 3 {
		t.Fatalf("analysis: %+v", rep)
	}
	if rep.Reading == nil || rep.Reading.Device != dev.Public() || rep.Reading.Seq != 1 || rep.Reading.Turbidity != r1.Turbidity || rep.Reading.Height == 0 {
		t.Fatalf("analysis reading: %+v", rep.Reading)
	}
	if !bytes.Equal(chain.MustEncode(reports[0].Analysis), chain.MustEncode(reports[1].Analysis)) {
		t.Fatalf("validator and auditor analyses differ:\n%+v\n%+v", reports[0].Analysis, reports[1].Analysis)
	}

	// The overlay is a PNG of the frame's size with the objects outlined.
	code, ctype, body := httpDo(t, aud, "GET", "/v1/images/"+h1.String()+"/overlay", "", nil)
	if code != http.StatusOK || ctype != "image/png" {
		t.Fatalf("overlay: %d %s", code, ctype)
	}
	ov, err := png.Decode(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ov.Bounds().Dx() != int(rep.Analysis.Width) || ov.Bounds().Dy() != int(rep.Analysis.Height) {
		t.Fatalf("overlay is %v", ov.Bounds())
	}
	box := rep.Analysis.Objects[0].Box // outlined just outside the box
	if c := color.RGBAModel.Convert(ov.At(int(box.MinX)-1, int(box.MinY)-1)); c != imaging.OutlineColour {
		t.Fatalf("overlay beside the first object's corner is %v, want the outline colour", c)
	}

	// Floating solids on both nodes (each derives them from the file);
	// the class change on the validator, which got the frames in order.
	for _, n := range tn.nodes {
		fs := listAlerts(t, n, alerts.KindFloatingSolids)
		if len(fs) != 1 || fs[0].Device != dev.Public() || fs[0].Readings[0].Seq != 1 || fs[0].Value != 3 || !fs[0].Local {
			t.Fatalf("%s: floating solids alerts %+v", n.name, fs)
		}
	}
	cc := listAlerts(t, val, alerts.KindImageClass)
	if len(cc) != 1 || cc[0].Readings[0].Seq != 2 || !strings.Contains(cc[0].Message, "changed to coloured") {
		t.Fatalf("class change alerts %+v", cc)
	}
}

// withPNGSize rewrites a PNG's IHDR dimensions (fixing its CRC): a small
// file that declares a huge frame, a decompression bomb.
func withPNGSize(t *testing.T, data []byte, w, h uint32) []byte {
	t.Helper()
	out := bytes.Clone(data)
	if string(out[12:16]) != "IHDR" {
		t.Fatal("no IHDR first")
	}
	binary.BigEndian.PutUint32(out[16:], w)
	binary.BigEndian.PutUint32(out[20:], h)
	binary.BigEndian.PutUint32(out[29:], crc32.ChecksumIEEE(out[12:29]))
	return out
}

// TestImageBadInput: starting from a valid upload, each broken upload is
// refused with a status, a code and a reason, and nothing is stored.
func TestImageBadInput(t *testing.T) {
	if testing.Short() {
		t.Skip("network test")
	}
	tn := startTestNet(t, 1, 0, 1)
	n := tn.nodes[0]
	chainID := n.ChainID()
	dev := tn.deviceKey(0)

	good := sceneJPEG(t, scenes.KindTurbid, scenes.Params{Width: 160, Height: 120}, 1)
	small, _, err := scenes.Draw(scenes.KindClear, scenes.Params{Width: 64, Height: 64}, 2)
	if err != nil {
		t.Fatal(err)
	}
	smallPNG, err := imaging.EncodePNG(small)
	if err != nil {
		t.Fatal(err)
	}
	var gifBuf bytes.Buffer
	if err := gif.Encode(&gifBuf, small, nil); err != nil {
		t.Fatal(err)
	}
	random := make([]byte, 4096)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	oversized := append([]byte{0xFF, 0xD8, 0xFF}, make([]byte, n.cfg.Images.MaxBytes)...)
	other := sceneJPEG(t, scenes.KindClear, scenes.Params{Width: 160, Height: 120}, 3)
	mislabelled := sceneJPEG(t, scenes.KindFoamy, scenes.Params{Width: 160, Height: 120}, 6)

	cases := []struct {
		name  string
		ctype string
		body  []byte
		// hash is the route's hash (default: the body's), which a reading
		// names unless noReading.
		hash       *chain.Hash
		noReading  bool
		status     int
		code, want string
	}{
		{name: "valid", ctype: "image/jpeg", body: good, status: http.StatusCreated},
		{name: "truncated", ctype: "image/jpeg", body: good[:len(good)/2], status: http.StatusUnprocessableEntity, code: api.CodeBadImage, want: "truncated"},
		{name: "oversized", ctype: "image/jpeg", body: oversized, status: http.StatusRequestEntityTooLarge, code: api.CodeTooLarge, want: "too large"},
		{name: "gif sent as png", ctype: "image/png", body: gifBuf.Bytes(), status: http.StatusUnsupportedMediaType, code: api.CodeBadImage, want: "GIF"},
		{name: "gif content type", ctype: "image/gif", body: gifBuf.Bytes(), status: http.StatusUnsupportedMediaType, code: api.CodeBadImage, want: "image/jpeg or image/png"},
		{name: "random bytes", ctype: "image/jpeg", body: random, status: http.StatusUnsupportedMediaType, code: api.CodeBadImage, want: "not a JPEG or PNG"},
		{name: "decompression bomb", ctype: "image/png", body: withPNGSize(t, smallPNG, 60000, 60000), status: http.StatusUnprocessableEntity, code: api.CodeBadImage, want: "pixel budget"},
		{name: "png labelled jpeg", ctype: "image/jpeg", body: smallPNG, status: http.StatusUnsupportedMediaType, code: api.CodeBadImage, want: "image/png file"},
		{name: "hash mismatch", ctype: "image/jpeg", body: mislabelled, hash: ptrHash(chain.HashBytes(other)), status: http.StatusUnprocessableEntity, code: api.CodeHashMismatch, want: "hash mismatch"},
		{name: "no reading refers to it", ctype: "image/jpeg", body: other[:len(other)-1], noReading: true, status: http.StatusUnprocessableEntity, code: api.CodeRejected, want: "submit the signed reading first"},
	}
	// A reading per route hash, so each upload is judged on its bytes.
	var readings []*chain.Reading
	now := time.Now()
	for i := range cases {
		c := &cases[i]
		if c.hash == nil {
			c.hash = ptrHash(chain.HashBytes(c.body))
		}
		if !c.noReading {
			seq := uint64(len(readings) + 1)
			readings = append(readings, readingWithImage(chainID, dev, seq, now.Add(time.Duration(int(seq)-len(cases))*time.Millisecond), *c.hash))
		}
	}
	var res api.SubmitReadingsResult
	if code := httpJSON(t, n, "POST", "/v1/readings", readings, &res); code != http.StatusAccepted {
		t.Fatalf("submit: %d %+v", code, res)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, e := putImage(t, n, *c.hash, c.ctype, c.body)
			if code != c.status || e.Code != c.code || !strings.Contains(e.Message, c.want) {
				t.Fatalf("PUT: %d %q %q; want %d %q with %q", code, e.Code, e.Message, c.status, c.code, c.want)
			}
			held := 0
			if c.status == http.StatusCreated {
				held = 2
			}
			for _, h := range []chain.Hash{*c.hash, chain.HashBytes(c.body)} {
				if got := imageRecords(t, n, h); got != held {
					t.Fatalf("%d records of %s stored, want %d", got, h.Short(), held)
				}
			}
			want := http.StatusNotFound
			if held > 0 {
				want = http.StatusOK
			}
			if got, _, body := httpDo(t, n, "GET", "/v1/images/"+c.hash.String(), "", nil); got != want {
				t.Fatalf("GET after the upload: %d %q, want %d", got, body, want)
			}
		})
	}
	if files := countImageKeys(t, n, 'f'); files != 1 {
		t.Fatalf("%d image files stored, want only the valid one", files)
	}
	// A malformed route hash.
	if code, _, body := httpDo(t, n, http.MethodPut, "/v1/images/xyz", "image/jpeg", good); code != http.StatusBadRequest {
		t.Fatalf("bad route hash: %d %s", code, body)
	}
	if code, _, body := httpDo(t, n, "GET", "/v1/images/"+chain.HashBytes(random).String(), "", nil); code != http.StatusNotFound || !strings.Contains(string(body), "not held") {
		t.Fatalf("unknown image: %d %s", code, body)
	}
}

func ptrHash(h chain.Hash) *chain.Hash { return &h }

// imageRecordSnapshot copies every image record but the indexed height
// (which each new data block rewrites).
func imageRecordSnapshot(t *testing.T, n *Node) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	if err := imageView(t, n).Iterate(nil, store.IterOptions{}, func(k, v []byte) error {
		if !bytes.Equal(k, []byte{'h'}) {
			out[string(k)] = bytes.Clone(v)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// imageAlertsOf lists a node's image alerts (both kinds), sorted by ID.
func imageAlertsOf(t *testing.T, n *Node) []alerts.Alert {
	t.Helper()
	out := append(listAlerts(t, n, alerts.KindFloatingSolids), listAlerts(t, n, alerts.KindImageClass)...)
	slices.SortFunc(out, func(a, b alerts.Alert) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	return out
}

// TestImageAlertsSurviveRestart: the image alerts a node raised live
// (floating solids; two class changes, with a frame of an unchanged class
// between) are listed again, with the same IDs and fields, after the node
// restarts, re-derived from the stored images without rewriting any image
// record; the other alerts are still there.
func TestImageAlertsSurviveRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("network test")
	}
	tn := startTestNet(t, 1, 0, 1)
	n := tn.nodes[0]
	dev := tn.deviceKey(0)
	frames := [][]byte{
		sceneJPEG(t, scenes.KindClear, scenes.Params{Objects: 3}, 7), // floating solids
		sceneJPEG(t, scenes.KindColoured, scenes.Params{Hue: 30}, 8), // clear → coloured
		sceneJPEG(t, scenes.KindColoured, scenes.Params{Hue: 40}, 9), // unchanged
		sceneJPEG(t, scenes.KindClear, scenes.Params{}, 10),          // coloured → clear
	}
	now := time.Now()
	var readings []*chain.Reading
	for i, f := range frames {
		readings = append(readings, readingWithImage(n.ChainID(), dev, uint64(i+1), now.Add(time.Duration(i-len(frames))*time.Second), chain.HashBytes(f)))
	}
	var res api.SubmitReadingsResult
	if code := httpJSON(t, n, "POST", "/v1/readings", readings, &res); code != http.StatusAccepted {
		t.Fatalf("submit: %d %+v", code, res)
	}
	for i, f := range frames {
		if code, e := putImage(t, n, chain.HashBytes(f), "image/jpeg", f); code != http.StatusCreated {
			t.Fatalf("upload %d: %d %+v", i+1, code, e)
		}
	}
	waitFor(t, 30*time.Second, "every reading final and its image indexed", func() bool {
		d, err := n.Device(dev.Public())
		if err != nil || d.LastSeq != uint64(len(frames)) {
			return false
		}
		for _, f := range frames {
			h := chain.HashBytes(f)
			if _, err := imageView(t, n).Get(append([]byte{'r'}, h[:]...)); err != nil {
				return false
			}
		}
		return true
	})

	before := imageAlertsOf(t, n)
	kinds := map[alerts.Kind][]uint64{}
	for _, a := range before {
		kinds[a.Kind] = append(kinds[a.Kind], a.Readings[0].Seq)
	}
	slices.Sort(kinds[alerts.KindImageClass])
	if !slices.Equal(kinds[alerts.KindFloatingSolids], []uint64{1}) || !slices.Equal(kinds[alerts.KindImageClass], []uint64{2, 4}) {
		t.Fatalf("live image alerts on readings %v, want floating solids on 1 and class changes on 2 and 4", kinds)
	}
	var all []alerts.Alert
	if code := httpJSON(t, n, "GET", "/v1/alerts?limit=20000", nil, &all); code != http.StatusOK {
		t.Fatalf("alerts: %d", code)
	}
	records := imageRecordSnapshot(t, n)

	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	n = tn.start(0)
	tn.nodes[0] = n

	after := imageAlertsOf(t, n)
	if len(after) != len(before) {
		t.Fatalf("%d image alerts after the restart, %d before:\nbefore %+v\nafter  %+v", len(after), len(before), before, after)
	}
	for i := range before {
		if fmt.Sprintf("%+v", after[i]) != fmt.Sprintf("%+v", before[i]) {
			t.Errorf("image alert %d differs after the restart:\nbefore %+v\nafter  %+v", i, before[i], after[i])
		}
	}
	var allAfter []alerts.Alert
	if code := httpJSON(t, n, "GET", "/v1/alerts?limit=20000", nil, &allAfter); code != http.StatusOK {
		t.Fatalf("alerts: %d", code)
	}
	ids := map[chain.Hash]bool{}
	for _, a := range allAfter {
		ids[a.ID] = true
	}
	for _, a := range all {
		if !ids[a.ID] {
			t.Errorf("alert %s (%s, seq %d) lost in the restart", a.ID.Short(), a.Kind, a.Readings[0].Seq)
		}
	}
	got := imageRecordSnapshot(t, n)
	if len(got) != len(records) {
		t.Fatalf("%d image records after the restart, %d before", len(got), len(records))
	}
	for k, v := range records {
		if !bytes.Equal(got[k], v) {
			t.Errorf("image record %x rewritten by the restart", k)
		}
	}
}
