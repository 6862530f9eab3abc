// This file is the fork's, not upstream's: see WATERCHAIN.md at the
// module's root.

//go:build amd64 && !purego && !force32bit

package curve

import "testing"

// TestMultiscalarMulScratchReuseGeneric is TestMultiscalarMulScratchReuse
// with the generic backend where the vector one is in use.
func TestMultiscalarMulScratchReuseGeneric(t *testing.T) {
	if !supportsVectorizedEdwards {
		t.Skip("the generic backend is in use: TestMultiscalarMulScratchReuse checks it")
	}
	c := newScratchReuseCase(t)
	defer func() { supportsVectorizedEdwards = true }()
	supportsVectorizedEdwards = false
	c.run(t)
}
