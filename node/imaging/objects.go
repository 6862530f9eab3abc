package imaging

import (
	"image"
	"slices"
)

// Pixel states in the detection mask.
const (
	maskWater  = 0 // background
	maskFore   = 1 // foreground, not yet labelled
	maskSpeck  = 2 // foreground in a component smaller than MinObjectArea
	maskObject = 3 // foreground in a reported object
)

// detection is the result of the object detector.
type detection struct {
	background [3]uint8
	threshold  uint32
	strong     uint32
	mask       []uint8
	objects    []found // all objects, in raster order of their first pixel
	objectArea uint64
}

type found struct {
	Object
	first int // raster index of the component's first pixel
}

// detect finds floating objects:
//
//  1. the background is the per-channel median colour of the frame (the
//     water covers most of it);
//  2. a pixel is foreground when its L1 RGB distance from the background
//     exceeds threshold = max(MinContrast, 4 × MAD), MAD being the median
//     of those distances over the frame — so rippled or noisy water raises
//     the bar instead of turning into objects;
//  3. foreground pixels are grouped into components: two foreground
//     pixels at Chebyshev distance at most linkRadius = 2 (within each
//     other's 5×5 neighbourhood) belong to the same component. That is
//     8-connectivity of the mask dilated by one pixel: it also bridges the
//     one-pixel gap between an object and the halo JPEG ringing leaves
//     along its edges, which plain 8-connectivity counts as a second,
//     thin object. Objects closer than 2 pixels are therefore one;
//  4. components of at least MinObjectArea pixels that hold at least one
//     pixel farther than threshold + MinContrast from the background are
//     objects (hysteresis, as in Canny's edge detector): a real object has
//     a core that stands out plainly, while ripple crests and the JPEG
//     halos around edges only just cross the threshold.
//
// The detector assumes roughly even lighting over the frame. Foam patches
// that stand out from the water are foreground too and count as objects
// (floating matter); the class says whether the surface is foamy.
func detect(f *frame, p Params) detection {
	n := f.pixels()
	rgb := f.rgb
	var d detection

	var ch [3][256]uint64
	for o := 0; o+2 < len(rgb); o += 3 {
		ch[0][rgb[o]]++
		ch[1][rgb[o+1]]++
		ch[2][rgb[o+2]]++
	}
	for i := range ch {
		d.background[i] = uint8(median(ch[i][:], uint64(n)))
	}
	br, bg, bb := int32(d.background[0]), int32(d.background[1]), int32(d.background[2])
	dist := func(o int) uint32 {
		return uint32(abs(int32(rgb[o])-br) + abs(int32(rgb[o+1])-bg) + abs(int32(rgb[o+2])-bb))
	}

	var dh [766]uint64
	for o := 0; o+2 < len(rgb); o += 3 {
		dh[dist(o)]++
	}
	mad := uint32(median(dh[:], uint64(n)))
	d.threshold = max(uint32(p.MinContrast), madFactor*mad)

	d.mask = make([]uint8, n)
	for i := range d.mask {
		if dist(3*i) > d.threshold {
			d.mask[i] = maskFore
		}
	}
	d.strong = d.threshold + uint32(p.MinContrast)
	d.label(f.w, f.h, p.MinObjectArea, func(i int) uint32 { return dist(3 * i) })
	return d
}

// linkRadius is the Chebyshev distance within which foreground pixels join
// one component (see detect).
const linkRadius = 2

// label flood-fills each component of maskFore pixels in
// raster order, marking it maskObject or maskSpeck.
func (d *detection) label(w, h, minArea int, dist func(i int) uint32) {
	mask := d.mask
	var queue []int32 // pixel indices of the current component
	for start, m := range mask {
		if m != maskFore {
			continue
		}
		queue = append(queue[:0], int32(start))
		mask[start] = maskSpeck
		x0, y0 := start%w, start/w
		box := Box{MinX: int32(x0), MinY: int32(y0), MaxX: int32(x0) + 1, MaxY: int32(y0) + 1}
		var peak uint32
		for head := 0; head < len(queue); head++ {
			i := int(queue[head])
			peak = max(peak, dist(i))
			x, y := i%w, i/w
			box.MinX, box.MaxX = min(box.MinX, int32(x)), max(box.MaxX, int32(x)+1)
			box.MinY, box.MaxY = min(box.MinY, int32(y)), max(box.MaxY, int32(y)+1)
			for ny := max(y-linkRadius, 0); ny <= min(y+linkRadius, h-1); ny++ {
				for nx := max(x-linkRadius, 0); nx <= min(x+linkRadius, w-1); nx++ {
					j := ny*w + nx
					if mask[j] == maskFore {
						mask[j] = maskSpeck
						queue = append(queue, int32(j))
					}
				}
			}
		}
		if len(queue) < minArea || peak <= d.strong {
			continue
		}
		for _, i := range queue {
			mask[i] = maskObject
		}
		d.objects = append(d.objects, found{Object: Object{Box: box, Area: uint32(len(queue))}, first: start})
		d.objectArea += uint64(len(queue))
	}
}

// reported returns the objects to list in an Analysis: the largest first,
// ties in raster order, at most MaxReportedObjects.
// Boxes are moved from frame to image coordinates (origin).
func (d *detection) reported(origin image.Point) []Object {
	if len(d.objects) == 0 {
		return nil
	}
	s := slices.Clone(d.objects)
	slices.SortStableFunc(s, func(a, b found) int {
		if a.Area != b.Area {
			if a.Area > b.Area {
				return -1
			}
			return 1
		}
		return a.first - b.first
	})
	s = s[:min(len(s), MaxReportedObjects)]
	out := make([]Object, len(s))
	for i := range s {
		o := s[i].Object
		o.Box.MinX += int32(origin.X)
		o.Box.MaxX += int32(origin.X)
		o.Box.MinY += int32(origin.Y)
		o.Box.MaxY += int32(origin.Y)
		out[i] = o
	}
	return out
}

// median returns the smallest value whose cumulative count reaches half of
// n (the lower median) from a histogram of n values.
func median(hist []uint64, n uint64) int {
	half := (n + 1) / 2
	var acc uint64
	for v, c := range hist {
		acc += c
		if acc >= half {
			return v
		}
	}
	return len(hist) - 1
}

func abs(v int32) int32 {
	if v < 0 {
		return -v
	}
	return v
}
