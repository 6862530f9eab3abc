package images

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/waterchain/waterchain/chain"
	"github.com/waterchain/waterchain/chain/store"
	"github.com/waterchain/waterchain/node/api"
	"github.com/waterchain/waterchain/node/imaging"
)

// Report answers GET /v1/images/{hash}/analysis: the derived figures
// beside the meter's own optical measures. It is the API's type, so the
// node serves it as it is.
type Report = api.ImageReport

// Reading is the reading an image belongs to, as Report shows it.
type Reading = api.ImageReading

// ParseHash parses the {hash} of an image route.
func ParseHash(s string) (chain.Hash, error) {
	h, err := chain.ParseHash(s)
	if err != nil {
		return h, api.BadRequest("image hash: %v (GET /v1/images/{sha256 hex})", err)
	}
	return h, nil
}

// load returns a held image's metadata and, withFile, its file.
func (im *Images) load(h chain.Hash, withFile bool) ([]byte, *meta, error) {
	v, err := im.kv.Get(recordKey(keyMeta, h[:]))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, api.Wrap(http.StatusNotFound, api.CodeNotFound,
			fmt.Errorf("%w: %s (an image is held once uploaded with PUT /v1/images/{hash} or fetched from a peer after its reading is final; one whose reading never became final is removed %s after its upload)",
				ErrNotHeld, h, im.cfg.OrphanGrace))
	}
	if err != nil {
		return nil, nil, err
	}
	var m meta
	if err := chain.Decode(v, &m); err != nil {
		return nil, nil, fmt.Errorf("%w: metadata of image %s: %w", ErrRecord, h.Short(), err)
	}
	if !withFile {
		return nil, &m, nil
	}
	data, err := im.kv.Get(recordKey(keyFile, h[:]))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: image %s has metadata but no file: %w", ErrRecord, h.Short(), err)
	}
	return data, &m, nil
}

// File answers GET /v1/images/{hash}: the file as uploaded.
func (im *Images) File(h chain.Hash) (api.File, error) {
	data, m, err := im.load(h, true)
	if err != nil {
		return api.File{}, err
	}
	return api.File{ContentType: m.Format.MIMEType(), Body: data}, nil
}

// Analysis answers GET /v1/images/{hash}/analysis.
func (im *Images) Analysis(h chain.Hash) (Report, error) {
	_, m, err := im.load(h, false)
	if err != nil {
		return Report{}, err
	}
	rep := Report{Hash: h, Format: m.Format.String(), Bytes: m.Size, Analysis: &m.Analysis}
	if o, ok, err := im.owner(h); err != nil {
		return Report{}, err
	} else if ok {
		r := o.reading
		rep.Reading = &Reading{
			Device: r.Device, Seq: r.Seq, Time: r.Time, Height: o.height,
			Turbidity: r.Turbidity, SuspendedSolids: r.SuspendedSolids, Absorbance: r.Absorbance,
		}
	}
	return rep, nil
}

// Overlay answers GET /v1/images/{hash}/overlay: a PNG of the image with
// the detected objects outlined. An image never changes under its hash,
// so the PNG is rendered once and kept in a cache bounded by bytes
// (Config.OverlayCacheBytes); concurrent requests for one image wait for
// one rendering. Whether the image is held is asked of the KV each time,
// so a swept image answers 404 however recently its overlay was drawn.
func (im *Images) Overlay(h chain.Hash) (api.File, error) {
	if _, _, err := im.load(h, false); err != nil {
		return api.File{}, err
	}
	out, err := im.overlays.get(h, func() ([]byte, error) {
		data, m, err := im.load(h, true)
		if err != nil {
			return nil, err
		}
		defer im.acquireDecode()()
		png, err := im.cfg.render(data, &m.Analysis, im.limits)
		if err != nil {
			return nil, fmt.Errorf("overlay of image %s: %w", h.Short(), err)
		}
		return png, nil
	})
	if err != nil {
		return api.File{}, err
	}
	return api.File{ContentType: "image/png", Body: out}, nil
}

// renderOverlay decodes a stored image and draws its analysis on it, as a
// PNG.
func renderOverlay(data []byte, a *imaging.Analysis, lim imaging.Limits) ([]byte, error) {
	img, _, err := imaging.Decode(data, lim)
	if err != nil {
		return nil, fmt.Errorf("%w: stored image no longer decodes: %w", ErrRecord, err)
	}
	return imaging.EncodePNG(imaging.Overlay(img, *a))
}

// AttachSummaries adds the image summary to the readings whose image this
// node holds (GET /v1/readings).
func (im *Images) AttachSummaries(rs []api.Reading) {
	for i := range rs {
		h := rs[i].ImageHash
		if h == nil {
			continue
		}
		_, m, err := im.load(*h, false)
		if err != nil {
			continue // not held (yet): the reading still shows image_hash
		}
		a := &m.Analysis
		rs[i].Image = &api.ImageSummary{
			Hash: *h, Class: a.Class.String(), TurbidityIndex: a.Turbidity, Dark: a.Dark,
			Objects: a.ObjectCount, ObjectArea: a.ObjectArea,
		}
	}
}
