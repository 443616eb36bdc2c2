// SPDX-License-Identifier: Apache-2.0

package host

import (
	"encoding/hex"
	"io"
	"math/rand/v2"
)

// synthReader is the same generator as internal/testplugins/source-synthetic.
func synthReader() io.Reader { return &prngReader{r: rand.NewChaCha8([32]byte{1, 2, 3})} }

type prngReader struct{ r *rand.ChaCha8 }

func (p *prngReader) Read(b []byte) (int, error) { return p.r.Read(b) }

func hexs(b []byte) string { return hex.EncodeToString(b) }
