// SPDX-License-Identifier: Apache-2.0

package restic

import (
	"fmt"
	"net"
	"net/url"
	"path"
	"strings"
	"unicode"
)

// S3Repository combines an S3 repository setting with an endpoint URL (the
// design's AWS_ENDPOINT_URL for B2, Wasabi, MinIO, …) into restic's
// repository location "s3:<scheme>://<endpoint-host>/<bucket>[/<prefix>]".
//
// restic itself only understands "s3:https://host/bucket/prefix",
// "s3:host/bucket/prefix" and "s3://host/bucket/prefix" — the first path
// element after "s3:" or "s3://" is always the host. People also write
// "s3:bucket/prefix" or "s3://bucket/prefix" (AWS CLI style), so the first
// element counts as a host only if it looks like one (contains a dot or a
// port, is "localhost" or an IP address); otherwise it is the bucket. Bucket
// names with dots therefore need the explicit host form.
//
// With an endpoint, its scheme and host replace the repository's host
// (http:// endpoints stay http for local servers; no scheme means https).
// Without an endpoint, a host-less repository gets AWS's s3.amazonaws.com
// and anything else is returned in restic's canonical form. A non-S3
// repository is returned unchanged if endpoint is empty, and is an error
// otherwise.
func S3Repository(repo, endpoint string) (string, error) {
	repo = strings.TrimSpace(repo)
	endpoint = strings.TrimSpace(endpoint)
	if !strings.HasPrefix(repo, "s3:") {
		if endpoint == "" {
			if repo == "" {
				return "", fmt.Errorf("restic: empty repository")
			}
			return repo, nil
		}
		return "", fmt.Errorf("restic: an S3 endpoint (%s) needs an s3: repository, not %q", endpoint, repo)
	}

	var scheme, host, rest string
	s := strings.TrimPrefix(repo, "s3:")
	switch {
	case strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://"):
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			return "", fmt.Errorf("restic: cannot parse S3 repository %q", repo)
		}
		if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			return "", fmt.Errorf("restic: unexpected credentials, query or fragment in S3 repository %q", repo)
		}
		scheme, host, rest = u.Scheme, u.Host, u.Path
	default:
		s = strings.TrimPrefix(s, "//")
		first, after, _ := strings.Cut(s, "/")
		if looksLikeHost(first) {
			host, rest = first, after
		} else {
			rest = s
		}
	}
	bucket, prefix, err := splitBucket(rest)
	if err != nil {
		return "", fmt.Errorf("restic: S3 repository %q: %w", repo, err)
	}

	if endpoint != "" {
		if !strings.Contains(endpoint, "://") {
			endpoint = "https://" + endpoint
		}
		u, err := url.Parse(endpoint)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return "", fmt.Errorf("restic: cannot parse S3 endpoint URL %q (want https://host[:port])", endpoint)
		}
		if strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.User != nil {
			return "", fmt.Errorf("restic: S3 endpoint URL %q must be scheme://host[:port] only", endpoint)
		}
		scheme, host = u.Scheme, u.Host
	}
	if host == "" {
		host = "s3.amazonaws.com"
	}
	loc := host + "/" + bucket
	if prefix != "" {
		loc += "/" + prefix
	}
	if scheme != "" {
		return "s3:" + scheme + "://" + loc, nil
	}
	return "s3:" + loc, nil
}

func looksLikeHost(s string) bool {
	if s == "localhost" || strings.Contains(s, ":") || strings.Contains(s, ".") {
		return true
	}
	return net.ParseIP(s) != nil
}

func splitBucket(p string) (bucket, prefix string, err error) {
	p = strings.Trim(p, "/")
	bucket, prefix, _ = strings.Cut(p, "/")
	if bucket == "" {
		return "", "", fmt.Errorf("no bucket name")
	}
	if strings.ContainsAny(bucket, ":") || strings.IndexFunc(bucket, spaceOrControl) >= 0 {
		return "", "", fmt.Errorf("invalid bucket name %q", bucket)
	}
	if strings.IndexFunc(prefix, spaceOrControl) >= 0 {
		return "", "", fmt.Errorf("invalid prefix %q: no spaces or control characters", prefix)
	}
	if prefix != "" {
		for _, el := range strings.Split(prefix, "/") {
			if el == ".." || el == "." {
				return "", "", fmt.Errorf("invalid prefix %q", prefix)
			}
		}
		prefix = path.Clean(prefix)
	}
	return bucket, prefix, nil
}

func spaceOrControl(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }
