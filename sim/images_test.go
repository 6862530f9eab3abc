package sim

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/node/imaging"
	"github.com/waterchain/waterchain/sim/scenes"
)

// TestImages: with Config.Images every reading carries the hash of its
// frame under the device signature; the frame shows the meter's scene
// (set, from its fault, or the fleet's), the analysis finds it, and the
// frames are deterministic.
func TestImages(t *testing.T) {
	cfg := Config{Seed: 3, Devices: 4, Images: &ImageConfig{}}
	a := newFleet(t, cfg)
	b := newFleet(t, cfg)
	if cfg.Images.Width != 0 {
		t.Fatal("NewFleet changed the caller's image config")
	}
	ms := a.Meters()
	if err := ms[1].SetScene(Scene{Kind: scenes.KindColoured}); err != nil {
		t.Fatal(err)
	}
	if err := ms[2].SetScene(Scene{Kind: scenes.KindClear, Objects: 4}); err != nil {
		t.Fatal(err)
	}
	ms[3].SetFault(FaultLimitBreach, true)
	_ = b.Meters()[1].SetScene(Scene{Kind: scenes.KindColoured})
	_ = b.Meters()[2].SetScene(Scene{Kind: scenes.KindClear, Objects: 4})
	b.Meters()[3].SetFault(FaultLimitBreach, true)

	want := []struct {
		class   imaging.Class
		objects uint32
	}{{imaging.ClassClear, 0}, {imaging.ClassColoured, 0}, {imaging.ClassClear, 4}, {imaging.ClassTurbid, 3}}
	for step := 0; step < 2; step++ {
		at := monday.Add(time.Duration(step) * time.Hour)
		ra, rb := a.Next(at), b.Next(at)
		for i, r := range ra {
			if r.ImageHash == nil {
				t.Fatalf("meter %d: no image hash", i)
			}
			if err := r.VerifySignature(testChainID); err != nil {
				t.Fatalf("meter %d: %v", i, err)
			}
			data, ok := a.Image(*r.ImageHash)
			if !ok || !bytes.Equal(data, ms[i].LastImage()) || chain.HashBytes(data) != *r.ImageHash {
				t.Fatalf("meter %d: Fleet.Image and LastImage do not give the file of the hash", i)
			}
			if !bytes.Equal(r.Encode(), rb[i].Encode()) {
				t.Fatalf("meter %d: same seed, different reading or frame", i)
			}
			img, format, err := imaging.DecodeVerified(data, *r.ImageHash, imaging.Limits{})
			if err != nil || format != imaging.FormatJPEG {
				t.Fatalf("meter %d: %v %v", i, format, err)
			}
			if b := img.Bounds(); b.Dx() != DefaultImageWidth || b.Dy() != DefaultImageHeight {
				t.Fatalf("meter %d: frame %v", i, b)
			}
			an, err := imaging.Analyze(img)
			if err != nil {
				t.Fatal(err)
			}
			if an.Class != want[i].class || an.ObjectCount != want[i].objects {
				t.Errorf("meter %d (scene %s) step %d: class %s with %d objects, want %s with %d",
					i, ms[i].Scene(), step, an.Class, an.ObjectCount, want[i].class, want[i].objects)
			}
		}
	}
	// A meter that loses a reading has no frame for it.
	ms[0].SetFault(FaultMissed, true)
	missed := 0
	for step := 3; step < 6; step++ {
		if r := ms[0].Next(monday.Add(time.Duration(step) * time.Hour)); r == nil {
			missed++
			if ms[0].LastImage() != nil {
				t.Fatalf("missed reading with a frame of %d bytes", len(ms[0].LastImage()))
			}
		}
	}
	if missed != 2 {
		t.Fatalf("%d of 3 readings missed, want 2", missed)
	}
	// Without Images, readings carry no hash.
	plain := newFleet(t, Config{Seed: 3, Devices: 1})
	if r := plain.Next(monday)[0]; r.ImageHash != nil || plain.Meters()[0].LastImage() != nil {
		t.Fatal("image without Config.Images")
	}
}

func TestParseScene(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Scene
	}{
		{"clear", Scene{Kind: scenes.KindClear}},
		{"turbid+3", Scene{Kind: scenes.KindTurbid, Objects: 3}},
		{"coloured+0", Scene{Kind: scenes.KindColoured}},
		{"foamy+16", Scene{Kind: scenes.KindFoamy, Objects: 16}},
	} {
		got, err := ParseScene(c.in)
		if err != nil || got != c.want {
			t.Errorf("%q: %+v %v", c.in, got, err)
		}
		if back, err := ParseScene(got.String()); err != nil || back != got {
			t.Errorf("%q: String %q does not parse back", c.in, got.String())
		}
	}
	for _, bad := range []string{"", "muddy", "clear+", "clear+x", "clear+-1", "clear+17", "+3"} {
		if _, err := ParseScene(bad); !errors.Is(err, ErrConfig) {
			t.Errorf("%q: %v, want ErrConfig", bad, err)
		}
	}
	m := newFleet(t, Config{Seed: 1, Devices: 1}).Meters()[0]
	for _, bad := range []Scene{{Kind: 9}, {Objects: 17}, {Objects: -1}} {
		if err := m.SetScene(bad); !errors.Is(err, ErrConfig) {
			t.Errorf("SetScene(%+v): %v", bad, err)
		}
	}
}

func TestImageConfig(t *testing.T) {
	for _, ic := range []ImageConfig{
		{Width: 63},
		{Height: 5000},
		{Quality: 101},
		{Quality: -1},
		{Scene: Scene{Objects: 20}},
		{Scene: Scene{Kind: 7}},
	} {
		if _, err := NewFleet(Config{ChainID: "x", Devices: 1, Images: &ic}); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: %v, want ErrConfig", ic, err)
		}
	}
	// The smallest frames still fit objects.
	f := newFleet(t, Config{Seed: 2, Devices: 1, Images: &ImageConfig{Width: 64, Height: 64, Scene: Scene{Objects: 16}}})
	if r := f.Next(monday)[0]; r.ImageHash == nil {
		t.Fatal("no frame at 64x64")
	}
}
