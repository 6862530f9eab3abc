package sim

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/sim/scenes"
)

// Camera frames (issue 9). With Config.Images set, every reading a meter
// delivers carries the SHA-256 of a synthetic JPEG frame of its outlet
// (scenes.Draw), set before the reading is signed, so the device
// signature covers it. The caller uploads the file after the reading
// (PUT /v1/images/{hash}); Fleet.Image and Meter.LastImage return it.

// Scene is what a meter's camera shows: a water type and a number of
// floating objects.
type Scene struct {
	Kind    scenes.Kind // clear when zero
	Objects int         // 0..scenes.MaxObjects
}

// String is the form ParseScene reads: the kind, then "+N" with objects.
func (s Scene) String() string {
	k := s.Kind
	if k == 0 {
		k = scenes.KindClear
	}
	if s.Objects == 0 {
		return k.String()
	}
	return fmt.Sprintf("%s+%d", k, s.Objects)
}

// ParseScene parses "KIND" or "KIND+N": clear, turbid, coloured or foamy,
// with N floating objects.
func ParseScene(s string) (Scene, error) {
	kind, objects, hasObjects := strings.Cut(s, "+")
	k, err := scenes.ParseKind(kind)
	if err != nil {
		return Scene{}, fmt.Errorf("%w: scene %q: %w", ErrConfig, s, err)
	}
	sc := Scene{Kind: k}
	if hasObjects {
		if sc.Objects, err = strconv.Atoi(objects); err != nil || sc.Objects < 0 || sc.Objects > scenes.MaxObjects {
			return Scene{}, fmt.Errorf("%w: scene %q: objects %q: want 0 to %d", ErrConfig, s, objects, scenes.MaxObjects)
		}
	}
	return sc, nil
}

// FaultScene is what the camera of a meter with FaultLimitBreach shows
// when no scene is set for it: the breach raises suspended solids and
// turbidity, so the water is turbid with floating solids.
var FaultScene = Scene{Kind: scenes.KindTurbid, Objects: 3}

// Defaults of ImageConfig.
const (
	DefaultImageWidth   = 320
	DefaultImageHeight  = 240
	DefaultImageQuality = 85
)

// ImageConfig makes meters attach camera frames to their readings.
type ImageConfig struct {
	// Scene is what a healthy meter's camera shows (clear, no objects,
	// when zero). Meter.SetScene overrides it per meter.
	Scene Scene
	// Width and Height of the frames (default 320×240, at least 64×64).
	Width, Height int
	// Quality of the JPEG encoding, 1..100 (default 85).
	Quality int
}

func (c *ImageConfig) setDefaults() error {
	if c.Width == 0 {
		c.Width = DefaultImageWidth
	}
	if c.Height == 0 {
		c.Height = DefaultImageHeight
	}
	if c.Quality == 0 {
		c.Quality = DefaultImageQuality
	}
	switch {
	case c.Width < 64 || c.Height < 64 || c.Width > 4096 || c.Height > 4096:
		return fmt.Errorf("%w: image size %dx%d: want 64 to 4096 a side", ErrConfig, c.Width, c.Height)
	case c.Quality < 1 || c.Quality > 100:
		return fmt.Errorf("%w: image quality %d: want 1 to 100", ErrConfig, c.Quality)
	}
	return c.Scene.check()
}

// SetScene sets what this meter's camera shows from now on, overriding
// ImageConfig.Scene and FaultScene.
func (m *Meter) SetScene(s Scene) error {
	if err := s.check(); err != nil {
		return err
	}
	m.scene = &s
	return nil
}

func (s Scene) check() error {
	if s.Kind != 0 && (s.Kind < scenes.KindClear || s.Kind > scenes.KindFoamy) {
		return fmt.Errorf("%w: scene kind %d: want clear, turbid, coloured or foamy", ErrConfig, s.Kind)
	}
	if s.Objects < 0 || s.Objects > scenes.MaxObjects {
		return fmt.Errorf("%w: scene objects %d: want 0 to %d", ErrConfig, s.Objects, scenes.MaxObjects)
	}
	return nil
}

// Scene is what the meter's camera shows now: its own scene if set, else
// FaultScene under FaultLimitBreach, else ImageConfig.Scene.
func (m *Meter) Scene() Scene {
	switch {
	case m.scene != nil:
		return *m.scene
	case m.faults[FaultLimitBreach]:
		return FaultScene
	case m.cfg.Images != nil:
		return m.cfg.Images.Scene
	}
	return Scene{}
}

// LastImage returns the JPEG file of the reading Next last returned, or
// nil when images are off (or Next last returned nil).
func (m *Meter) LastImage() []byte { return m.image }

// attachImage draws r's frame, a deterministic function of the seed, the
// meter and the reading's time, and sets r.ImageHash. r is not signed yet.
func (m *Meter) attachImage(r *chain.Reading) error {
	ic := m.cfg.Images
	sc := m.Scene()
	kind := sc.Kind
	if kind == 0 {
		kind = scenes.KindClear
	}
	seed := binary.BigEndian.Uint64(m.hash("image", r.Time))
	p := scenes.Params{Width: ic.Width, Height: ic.Height, Objects: sc.Objects, Hue: int((seed >> 32) % 360)}
	if sc.Objects > 0 {
		// Small frames: objects must fit their cell of the 4×4 grid with
		// a margin (at least 4 pixels at 64×64).
		p.ObjectMin = min(scenes.DefaultObjectMin, min(ic.Width, ic.Height)/4-12)
	}
	img, _, err := scenes.Draw(kind, p, seed)
	if err != nil {
		return fmt.Errorf("meter-%d scene %s: %w", m.index+1, sc, err)
	}
	data, err := scenes.EncodeJPEG(img, ic.Quality)
	if err != nil {
		return fmt.Errorf("meter-%d scene %s: %w", m.index+1, sc, err)
	}
	h := chain.HashBytes(data)
	r.ImageHash = &h
	m.image = data
	return nil
}

// Image returns the file of image h among the readings the last Fleet.Next
// returned.
func (f *Fleet) Image(h chain.Hash) ([]byte, bool) {
	data, ok := f.images[h]
	return data, ok
}
