// Package imaging owns the camera evidence a meter may attach to a reading
// (issue 9): the safe decoding of the image file, the deterministic analysis
// of its pixels and the outline overlay for the dashboard. It uses the
// standard library only, does no I/O and keeps no state: the class
// reference histograms are a compiled-in table (references.go). Storing
// images, serving them and raising alerts belong to the node; this package
// gives it the figures. Synthetic scenes, for tests and the meter
// simulator, are drawn by package sim/scenes, which the node does not
// import.
//
// # Accepting an image
//
// A reading binds its image by SHA-256 (chain.Reading.ImageHash), so the
// device signature covers the bytes. A node receiving a reading with an
// image calls
//
//	img, format, err := imaging.DecodeVerified(data, *reading.ImageHash, limits)
//
// and stores nothing unless err is nil. DecodeVerified checks, cheap to
// expensive: the size (ErrTooLarge), the hash (ErrHashMismatch), the
// signature — JPEG or PNG only (ErrNotImage) — the segment or chunk
// structure without decoding (ErrTruncated, ErrCorrupt for bytes after the
// end marker, ErrTooManyScans for a progressive-JPEG CPU bomb), the header's
// dimensions against a pixel budget before any pixel buffer exists
// (ErrTooManyPixels: decompression bombs), then the decode (ErrCorrupt,
// ErrUnsupported). Decode does the same without the hash. Both never
// panic. Limits come from the node's config; a zero field is its default
// (DefaultLimits: 4 MiB, 8 Mpx, 8192 a side, 64 scans). The HTTP body should
// be capped at Limits.MaxBytes before it is read, so an oversized upload is
// never buffered whole. Serve stored files with Format.MIMEType.
//
// # Analysing it
//
//	a, err := imaging.Analyze(img) // err only for images over MaxAnalyzePixels
//
// Analysis holds, all as integers computed in integer arithmetic:
//
//   - the colour histogram: a joint saturation × value histogram (8×8
//     bins) and a 12-bin hue histogram of the chromatic pixels, in permille;
//   - the water-type Class — clear, turbid, coloured or foamy — the class
//     whose reference histogram is nearest, and the Bhattacharyya distance
//     to every class (ClassDistances, fixed point, DistanceScale =
//     1_000_000 for distance 1.0). Histograms are smoothed with a [1 2 1]
//     kernel per axis and compared in 2^-24 fixed point. The class
//     histogram leaves hue out on purpose, so a dye of any colour is
//     "coloured"; the hue histogram says which colour. The references were
//     averaged from synthetic scenes of package sim/scenes; the table in
//     references.go is held to them by TestReferencesFromScenes;
//   - the turbidity index, 0..1000, from the brightness and RMS contrast of
//     the water region (the frame minus detected objects):
//     1000·50 / (cv + 50), cv the contrast over the brightness in permille.
//     More haze always gives a higher index (see water.turbidity); Dark
//     flags a frame too dark to judge;
//   - floating objects: pixels farther than a threshold from the water's
//     median colour (L1 RGB distance, threshold max(MinContrast, 5 × the
//     median deviation)), grouped into components of pixels within 2
//     pixels of each other (8-connectivity of the mask dilated by one, to
//     bridge JPEG ringing), kept when at least MinObjectArea pixels (default
//     32) with a core clearly above the threshold. Reported: ObjectCount,
//     ObjectArea (permille of the frame) and the bounding boxes of the
//     largest MaxReportedObjects (64), largest first.
//
// Determinism. Nodes must derive identical Analyses (compare with
// chain.Encode) from identical bytes. Everything after decoding is integer
// arithmetic with fixed tie-breaks; decoding is Go's image/jpeg and
// image/png, whose integer IDCT and colour conversion are the same on every
// platform. So all nodes must run the same decoder: a Go release that
// changed image/jpeg's output would be a consensus change, as would any
// change to this package's algorithm, which must bump AnalysisVersion (the
// digests in analyze_test.go pin version 1). Analyze with DefaultParams
// only; AnalyzeWith exists for tuning and tests.
//
// Surface flow. EstimateFlow gives the surface displacement (whole pixels)
// and speed (mm/s, given the pixel size on the water) from two frames a
// known interval apart, by block matching with a median over blocks.
//
// # Showing it
//
// Overlay(img, a) returns a copy of the image with each listed object's box
// outlined in magenta, for the dashboard. Analysis has JSON tags for the
// API; Class marshals as its name.
//
// Thread safety: every function may be called concurrently.
package imaging
