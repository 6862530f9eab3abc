package ingest

import (
	"crypto/ed25519"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/waterchain/waterchain/chain"
)

// BenchmarkDecodeVerify measures the ingestion path of POST /v1/readings
// up to the door's signature check: batches of 1,000 signed native JSON
// readings are decoded with Decode and their signatures checked with
// chain.BatchVerifier, one batch per goroutine and GOMAXPROCS batches at
// once (as concurrent HTTP requests are). In the same run it measures the
// machine's raw crypto/ed25519.Verify rate on all cores over as many
// signatures, and reports both and their ratio:
//
//	go test -run XXX -bench DecodeVerify -benchtime 20x ./node/ingest/
func BenchmarkDecodeVerify(b *testing.B) {
	const batch = 1000
	keys := make([]*chain.PrivateKey, 100)
	for i := range keys {
		keys[i] = testKey(b, string(rune('a'+i%26))+string(rune('a'+i/26)))
	}
	rs := make([]*chain.Reading, batch)
	for i := range rs {
		rs[i] = signedReading(b, keys[i%len(keys)], uint64(i+1))
	}
	body, err := EncodeJSON(rs)
	if err != nil {
		b.Fatal(err)
	}
	workers := runtime.GOMAXPROCS(0)

	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Bool
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bv := chain.NewBatchVerifier(batch)
			for next.Add(1) <= int64(b.N) {
				got, err := Decode(ContentTypeJSON, body)
				if err != nil || len(got) != batch {
					failed.Store(true)
					return
				}
				for _, r := range got {
					bv.Add(r.Device, chain.DomainReading, testChainID, r.SigningBytes(), r.Sig)
				}
				if _, ok := bv.Verify(); !ok {
					failed.Store(true)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if failed.Load() {
		b.Fatal("a batch failed to decode or verify")
	}
	ingested := float64(b.N*batch) / elapsed.Seconds()

	// The raw rate over the same number of signatures, on all cores.
	type sigCase struct {
		pub ed25519.PublicKey
		msg []byte
		sig []byte
	}
	cases := make([]sigCase, len(rs))
	for i, r := range rs {
		d := chain.SignDigest(chain.DomainReading, testChainID, r.SigningBytes())
		cases[i] = sigCase{ed25519.PublicKey(r.Device[:]), d[:], r.Sig}
	}
	total := int64(b.N * batch)
	next.Store(0)
	start = time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > total {
					return
				}
				c := cases[i%int64(len(cases))]
				if !ed25519.Verify(c.pub, c.msg, c.sig) {
					failed.Store(true)
				}
			}
		}()
	}
	wg.Wait()
	raw := float64(total) / time.Since(start).Seconds()
	if failed.Load() {
		b.Fatal("raw verification failed")
	}
	b.ReportMetric(ingested, "readings/s")
	b.ReportMetric(raw, "raw_verify/s")
	b.ReportMetric(ingested/raw, "ratio")
}

// BenchmarkDecodeNative measures decoding a 1,000-reading native JSON body
// (as EncodeJSON writes it) with Decode, which takes the hand-written fast
// path, and with decodeNativeSlow, the encoding/json path it falls back to;
// both report ns/reading:
//
//	go test -run XXX -bench DecodeNative -benchmem ./node/ingest/
func BenchmarkDecodeNative(b *testing.B) {
	const batch = 1000
	key := testKey(b, "bench")
	rs := make([]*chain.Reading, batch)
	for i := range rs {
		rs[i] = signedReading(b, key, uint64(i+1))
	}
	body, err := EncodeJSON(rs)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		decode func([]byte) ([]*chain.Reading, error)
	}{
		{"fast", func(body []byte) ([]*chain.Reading, error) { return Decode(ContentTypeJSON, body) }},
		{"slow", func(body []byte) ([]*chain.Reading, error) { return decodeNativeSlow(body, DefaultMaxReadings) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				got, err := c.decode(body)
				if err != nil || len(got) != batch {
					b.Fatalf("decoded %d readings: %v", len(got), err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/reading")
		})
	}
}

// BenchmarkDecodeSenML measures decoding a SenML pack of 100 readings (as
// EncodeSenML writes them, 9 records each); it reports ns/reading:
//
//	go test -run XXX -bench DecodeSenML -benchmem ./node/ingest/
func BenchmarkDecodeSenML(b *testing.B) {
	const batch = 100
	key := testKey(b, "bench")
	rs := make([]*chain.Reading, batch)
	for i := range rs {
		rs[i] = signedReading(b, key, uint64(i+1))
	}
	body, err := EncodeSenML(rs)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		got, err := Decode(ContentTypeSenML, body)
		if err != nil || len(got) != batch {
			b.Fatalf("decoded %d readings: %v", len(got), err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/reading")
}

// BenchmarkWalkKeys measures the duplicate-key walk that the slow native
// path and SenML add to encoding/json, over the 1,000-reading native body
// of BenchmarkDecodeNative; it reports ns/reading:
//
//	go test -run XXX -bench WalkKeys -benchmem ./node/ingest/
func BenchmarkWalkKeys(b *testing.B) {
	const batch = 1000
	key := testKey(b, "bench")
	rs := make([]*chain.Reading, batch)
	for i := range rs {
		rs[i] = signedReading(b, key, uint64(i+1))
	}
	body, err := EncodeJSON(rs)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := walkKeys(body, refuseDuplicateField); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/reading")
}
