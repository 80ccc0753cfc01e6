//go:build !linux

package main

import "time"

// processCPU is unavailable off Linux: the CPU columns stay empty.
func processCPU(dataDir string) (cpu time.Duration, pid int, ok bool) { return 0, 0, false }

// selfCPU is unavailable off Linux.
func selfCPU() (time.Duration, bool) { return 0, false }
