package imaging

import (
	"testing"

	"github.com/waterchain/waterchain/sim/scenes"
)

// benchJPEG is a 640×480 turbid scene with 6 floating objects at JPEG
// quality 85, the size and quality of a typical meter camera frame.
func benchJPEG(b *testing.B) []byte {
	img, _ := scene(b, scenes.KindTurbid, scenes.Params{Width: 640, Height: 480, Objects: 6}, 1)
	return mustJPEG(b, img, 85)
}

// BenchmarkDecodeAnalyze640x480JPEG is the figure issue 9 asks for: images
// decoded and analysed per second, on one core.
func BenchmarkDecodeAnalyze640x480JPEG(b *testing.B) {
	data := benchJPEG(b)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		img, _, err := Decode(data, Limits{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Analyze(img); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "images/s")
}

func BenchmarkDecode640x480JPEG(b *testing.B) {
	data := benchJPEG(b)
	for b.Loop() {
		if _, _, err := Decode(data, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "images/s")
}

func BenchmarkAnalyze640x480(b *testing.B) {
	img := mustDecode(b, benchJPEG(b))
	for b.Loop() {
		if _, err := Analyze(img); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "images/s")
}

func BenchmarkEstimateFlow640x480(b *testing.B) {
	first, _ := scene(b, scenes.KindClear, scenes.Params{}, 1)
	second, _ := scene(b, scenes.KindClear, scenes.Params{OffsetX: 4}, 1)
	p := FlowParams{IntervalMillis: 1000, MicrometresPerPixel: 1000}
	for b.Loop() {
		if _, err := EstimateFlow(first, second, p); err != nil {
			b.Fatal(err)
		}
	}
}
