// Package scenes draws synthetic camera frames of water for the meter
// simulator and for tests of the image analysis: clear, turbid (a haze
// level), coloured (a dye hue) and foamy (a foam coverage), with up to
// MaxObjects floating objects that never touch, whose boxes Draw returns as
// ground truth.
//
// Draw is deterministic across platforms (integer arithmetic and its own
// SplitMix64 generator): the same kind, Params and seed give the same
// pixels everywhere, so tests may pin digests of what the analysis in
// node/imaging makes of a scene. EncodeJPEG turns a scene into the file a
// simulated meter attaches to its readings (imaging.EncodePNG makes the
// lossless PNG form tests also use).
//
// The node does not import this package. The class references the node's
// analysis compares images with were averaged from scenes drawn here; they
// are compiled into node/imaging as a table, and a test there draws them
// again and fails if the table and the scenes disagree.
//
// Thread safety: every function may be called concurrently.
package scenes
