//go:build !unix

package health

import "os/exec"

// killGroupOnCancel is the default: the context kills the command alone.
func killGroupOnCancel(*exec.Cmd) {}

func killGroup(*exec.Cmd) {}
