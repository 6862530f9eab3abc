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
	"strings"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/store"
	"github.com/waterchain/waterchain/node/alerts"
	"github.com/waterchain/waterchain/node/api"
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

// imageRecords counts the image file and metadata records a node holds
// for h.
func imageRecords(t *testing.T, n *Node, h chain.Hash) int {
	t.Helper()
	count := 0
	for _, kind := range []byte{imageKeyFile, imageKeyMeta} {
		_, err := n.kv.Get(imageKey(kind, h[:]))
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
	if err := n.kv.Iterate(imageKey(kind, nil), store.IterOptions{}, func(k, v []byte) error {
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
		if c := countImageKeys(t, n, imageKeyMissing); c != 0 {
			t.Fatalf("%s: %d images still marked missing", n.name, c)
		}
	}

	// Every node derives the same analysis, shown beside the reading's own
	// optical measures.
	var reports [2]ImageReport
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
	if files := countImageKeys(t, n, imageKeyFile); files != 1 {
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

// TestImageIndexCatchUp: data blocks committed while the image index did
// not run (a crash between the commit and afterCommit, or a store from
// before images) are indexed at the next data block.
func TestImageIndexCatchUp(t *testing.T) {
	if testing.Short() {
		t.Skip("network test")
	}
	tn := startTestNet(t, 1, 0, 1)
	n := tn.nodes[0]
	dev := tn.deviceKey(0)
	h1 := chain.HashBytes([]byte("frame one"))
	submit := func(seq uint64, h chain.Hash) {
		t.Helper()
		var res api.SubmitReadingsResult
		r := readingWithImage(n.ChainID(), dev, seq, time.Now(), h)
		if code := httpJSON(t, n, "POST", "/v1/readings", []*chain.Reading{r}, &res); code != http.StatusAccepted {
			t.Fatalf("submit: %d %+v", code, res)
		}
		waitFor(t, 30*time.Second, fmt.Sprintf("reading %d final", seq), func() bool {
			d, err := n.Device(dev.Public())
			return err == nil && d.LastSeq == seq
		})
	}
	submit(1, h1)
	owner, ok, err := n.imageOwner(h1)
	if err != nil || !ok || owner.reading.Seq != 1 || owner.height == 0 {
		t.Fatalf("image of a final reading: %+v %v %v", owner, ok, err)
	}
	if countImageKeys(t, n, imageKeyMissing) != 1 {
		t.Fatal("the image of the final reading is not marked missing")
	}
	// Forget the index, as if the node had never run it.
	b := n.kv.NewBatch()
	b.Delete(imageKey(imageKeyRef, h1[:]))
	b.Delete(imageKey(imageKeyMissing, h1[:]))
	b.Delete(imageKey(imageKeyIndexed, nil))
	if err := b.Write(); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := n.imageOwner(h1); ok {
		t.Fatal("index not forgotten")
	}
	submit(2, chain.HashBytes([]byte("frame two")))
	waitFor(t, 10*time.Second, "the forgotten block re-indexed", func() bool {
		o, ok, err := n.imageOwner(h1)
		return err == nil && ok && o.reading.Seq == 1
	})
	waitFor(t, 10*time.Second, "the index at the data head", func() bool {
		got, err := n.imagesIndexedHeight()
		return err == nil && got == n.Height(chain.LaneData)
	})
	if c := countImageKeys(t, n, imageKeyMissing); c != 2 {
		t.Fatalf("%d images marked missing, want 2", c)
	}
}

// TestImageHTTPError maps every refusal of the imaging package to its
// status and code, and leaves other errors alone.
func TestImageHTTPError(t *testing.T) {
	for _, c := range []struct {
		err    error
		status int
		code   string
	}{
		{imaging.ErrTooLarge, http.StatusRequestEntityTooLarge, api.CodeTooLarge},
		{imaging.ErrNotImage, http.StatusUnsupportedMediaType, api.CodeBadImage},
		{imaging.ErrHashMismatch, http.StatusUnprocessableEntity, api.CodeHashMismatch},
		{imaging.ErrTruncated, http.StatusUnprocessableEntity, api.CodeBadImage},
		{imaging.ErrCorrupt, http.StatusUnprocessableEntity, api.CodeBadImage},
		{imaging.ErrTooManyPixels, http.StatusUnprocessableEntity, api.CodeBadImage},
		{imaging.ErrTooManyScans, http.StatusUnprocessableEntity, api.CodeBadImage},
		{imaging.ErrUnsupported, http.StatusUnprocessableEntity, api.CodeBadImage},
	} {
		err := imageHTTPError(fmt.Errorf("wrapped: %w", c.err))
		var he *api.HTTPError
		if !errors.As(err, &he) || he.Status != c.status || he.Code != c.code || !errors.Is(err, c.err) {
			t.Errorf("%v: got %v (%+v)", c.err, err, he)
		}
	}
	plain := errors.New("disk on fire")
	if err := imageHTTPError(plain); err != plain {
		t.Errorf("plain error became %v", err)
	}
	if imageHTTPError(nil) != nil {
		t.Error("nil became an error")
	}
}

// TestImageRecordsRoundTrip: the stored records decode to what was
// written, so a node reads back the analysis it stored.
func TestImageRecordsRoundTrip(t *testing.T) {
	img, _, err := scenes.Draw(scenes.KindColoured, scenes.Params{Width: 160, Height: 120, Objects: 2, Hue: 200}, 4)
	if err != nil {
		t.Fatal(err)
	}
	a, err := imaging.Analyze(img)
	if err != nil {
		t.Fatal(err)
	}
	in := imageMeta{Format: imaging.FormatPNG, Size: 1234, Analysis: a}
	var out imageMeta
	if err := chain.Decode(chain.MustEncode(&in), &out); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(chain.MustEncode(&in), chain.MustEncode(&out)) || out.Analysis.Class != imaging.ClassColoured {
		t.Fatalf("round trip: %+v", out)
	}
	cs := imageClassState{Seq: 9, Class: imaging.ClassTurbid}
	var cs2 imageClassState
	if err := chain.Decode(chain.MustEncode(&cs), &cs2); err != nil || cs2 != cs {
		t.Fatalf("class state round trip: %+v %v", cs2, err)
	}
}

// FuzzImageRequest: the "images/get" request parser accepts exactly the
// nonzero 32-byte hashes and never panics.
func FuzzImageRequest(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, 32))
	f.Add(bytes.Repeat([]byte{7}, 32))
	f.Add(bytes.Repeat([]byte{7}, 33))
	f.Fuzz(func(t *testing.T, req []byte) {
		h, err := parseImageRequest(req)
		valid := len(req) == 32 && !bytes.Equal(req, make([]byte, 32))
		if (err == nil) != valid {
			t.Fatalf("%x: err %v, valid %v", req, err, valid)
		}
		if err == nil && !bytes.Equal(h[:], req) {
			t.Fatalf("%x parsed as %s", req, h)
		}
	})
}

// FuzzImageRecord: decoding stored image metadata never panics, and what
// decodes re-encodes to the same bytes (canonical records only).
func FuzzImageRecord(f *testing.F) {
	img, _, err := scenes.Draw(scenes.KindClear, scenes.Params{Width: 160, Height: 120, Objects: 1}, 5)
	if err != nil {
		f.Fatal(err)
	}
	a, err := imaging.Analyze(img)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(chain.MustEncode(&imageMeta{Format: imaging.FormatJPEG, Size: 10, Analysis: a}))
	f.Add(chain.MustEncode(&imageMeta{Format: imaging.FormatPNG, Size: 10, Analysis: a, StoredAt: chain.TimeOf(time.Unix(1_800_000_000, 0))}))
	f.Add([]byte{0xa0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, raw []byte) {
		var m imageMeta
		if chain.Decode(raw, &m) != nil {
			return
		}
		if !bytes.Equal(chain.MustEncode(&m), raw) {
			t.Fatalf("%x decoded but re-encodes as %x", raw, chain.MustEncode(&m))
		}
	})
}
