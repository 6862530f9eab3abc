package images

import (
	"testing"

	"github.com/waterchain/waterchain/node/imaging"
)

// The synthetic scenes are the only thing the tests take from
// imaging's scene drawing; they are reached through this file alone.

type sceneKind = imaging.Kind

const (
	sceneClear    = imaging.KindClear
	sceneTurbid   = imaging.KindTurbid
	sceneColoured = imaging.KindColoured
	sceneFoamy    = imaging.KindFoamy
)

type sceneParams = imaging.SynthParams

// sceneJPEG draws a synthetic water scene and encodes it as a JPEG.
func sceneJPEG(t testing.TB, kind sceneKind, p sceneParams, seed uint64) []byte {
	t.Helper()
	img, _, err := imaging.Synthetic(kind, p, seed)
	if err != nil {
		t.Fatal(err)
	}
	data, err := imaging.EncodeJPEG(img, 90)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// sceneAnalysis draws a synthetic scene and analyses it.
func sceneAnalysis(t testing.TB, kind sceneKind, p sceneParams, seed uint64) imaging.Analysis {
	t.Helper()
	img, _, err := imaging.Synthetic(kind, p, seed)
	if err != nil {
		t.Fatal(err)
	}
	a, err := imaging.Analyze(img)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
