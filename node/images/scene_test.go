package images

import (
	"testing"

	"github.com/waterchain/waterchain/node/imaging"
	"github.com/waterchain/waterchain/sim/scenes"
)

// The synthetic scenes are the only thing the tests take from
// sim/scenes; they are reached through this file alone.

type sceneKind = scenes.Kind

const (
	sceneClear    = scenes.KindClear
	sceneTurbid   = scenes.KindTurbid
	sceneColoured = scenes.KindColoured
	sceneFoamy    = scenes.KindFoamy
)

type sceneParams = scenes.Params

// sceneJPEG draws a synthetic water scene and encodes it as a JPEG.
func sceneJPEG(t testing.TB, kind sceneKind, p sceneParams, seed uint64) []byte {
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

// sceneAnalysis draws a synthetic scene and analyses it.
func sceneAnalysis(t testing.TB, kind sceneKind, p sceneParams, seed uint64) imaging.Analysis {
	t.Helper()
	img, _, err := scenes.Draw(kind, p, seed)
	if err != nil {
		t.Fatal(err)
	}
	a, err := imaging.Analyze(img)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
