// SPDX-License-Identifier: Apache-2.0

package testenv

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// SMTPMail is a message the server received.
type SMTPMail struct {
	From     string
	To       []string
	Data     []byte
	TLS      bool
	AuthUser string
}

// SMTPServer is a real SMTP server (emersion/go-smtp, the maintained Go
// SMTP server library) on 127.0.0.1 that keeps what it receives.
type SMTPServer struct {
	Host string
	Port string

	user, pass string // required credentials when user is set

	mu       sync.Mutex
	mails    []SMTPMail
	authSeen int // AUTH attempts, successful or not
}

// Mails returns the messages received so far.
func (s *SMTPServer) Mails() []SMTPMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SMTPMail(nil), s.mails...)
}

// AuthAttempts counts AUTH commands, successful or not.
func (s *SMTPServer) AuthAttempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.authSeen
}

// SMTPOptions configure StartSMTP.
type SMTPOptions struct {
	TLS               *tls.Config // offer STARTTLS (or implicit TLS)
	Implicit          bool        // implicit TLS (port 465 style)
	AllowInsecureAuth bool        // AUTH without TLS
	User, Pass        string      // required credentials when User is set
}

// StartSMTP starts a server; it stops when the test ends.
func StartSMTP(t testing.TB, o SMTPOptions) *SMTPServer {
	t.Helper()
	srv := &SMTPServer{user: o.User, pass: o.Pass}
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &smtpSession{srv: srv, conn: c}, nil
	}))
	s.Domain = "localhost"
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	s.AllowInsecureAuth = o.AllowInsecureAuth
	s.TLSConfig = o.TLS
	var l net.Listener
	var err error
	if o.Implicit {
		l, err = tls.Listen("tcp", "127.0.0.1:0", o.TLS)
	} else {
		l, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Serve(l) }()
	t.Cleanup(func() { _ = s.Close() })
	srv.Host, srv.Port, _ = net.SplitHostPort(l.Addr().String())
	return srv
}

type smtpSession struct {
	srv  *SMTPServer
	conn *smtp.Conn
	cur  SMTPMail
	user string
}

func (s *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *smtpSession) Auth(string) (sasl.Server, error) {
	s.srv.mu.Lock()
	s.srv.authSeen++
	s.srv.mu.Unlock()
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.srv.user || pass != s.srv.pass {
			return errors.New("invalid credentials")
		}
		s.user = user
		return nil
	}), nil
}

func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.srv.user != "" && s.user == "" {
		return smtp.ErrAuthRequired
	}
	s.cur = SMTPMail{From: from}
	return nil
}

func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.cur.To = append(s.cur.To, to)
	return nil
}

func (s *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.Data = b
	_, s.cur.TLS = s.conn.TLSConnectionState()
	s.cur.AuthUser = s.user
	s.srv.mu.Lock()
	s.srv.mails = append(s.srv.mails, s.cur)
	s.srv.mu.Unlock()
	return nil
}

func (s *smtpSession) Reset()        { s.cur = SMTPMail{} }
func (s *smtpSession) Logout() error { return nil }
