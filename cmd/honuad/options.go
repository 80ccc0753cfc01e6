package main

import (
	"encoding"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/honua-io/honua-gitops/internal/agent"
	"github.com/honua-io/honua-gitops/internal/targetagent"
)

// agentFlags are honuad agent's flags, one for each of agent.Options, in
// their order: a flag of the kind its field takes, read from its
// environment variable, showing the default agent.DefaultConfig holds.
func agentFlags() []cli.Flag {
	var flags []cli.Flag
	var cfg agent.Config
	for _, o := range agent.Options() {
		flags = append(flags, optionFlag(o.Name, o.Env(), o.Usage, o.Default(), o.Field(&cfg)))
	}
	return flags
}

// targetAgentFlags are honuad target-agent's flags, one for each of
// targetagent.Options, as agentFlags makes honuad agent's.
func targetAgentFlags() []cli.Flag {
	var flags []cli.Flag
	var cfg targetagent.Config
	for _, o := range targetagent.Options() {
		flags = append(flags, optionFlag(o.Name, o.Env(), o.Usage, o.Default(), o.Field(&cfg)))
	}
	return flags
}

// optionFlag is the flag of an option whose field is field (nil for
// --config): a flag of the kind the field takes, read from env, showing
// def as its default.
func optionFlag(name, env, usage, def string, field any) cli.Flag {
	envs := []string{env}
	switch field.(type) {
	case nil, *string, encoding.TextUnmarshaler:
		return &cli.StringFlag{Name: name, EnvVars: envs, Usage: usage, DefaultText: def}
	case *int:
		return &cli.IntFlag{Name: name, EnvVars: envs, Usage: usage, DefaultText: def}
	case *uint64:
		return &cli.Uint64Flag{Name: name, EnvVars: envs, Usage: usage, DefaultText: def}
	case *bool:
		return &cli.BoolFlag{Name: name, EnvVars: envs, Usage: usage, DefaultText: def}
	case *agent.Duration:
		return &cli.DurationFlag{Name: name, EnvVars: envs, Usage: usage, DefaultText: def}
	case *[]string:
		return &cli.StringSliceFlag{Name: name, EnvVars: envs, Usage: usage, DefaultText: def}
	default:
		panic(fmt.Sprintf("honuad: option --%s has a field of type %T", name, field))
	}
}

// applyFlags sets in cfg every option given as a flag or in the
// environment (urfave/cli lets the flag win over its variable). A value
// that does not parse is a *agent.ConfigError naming the option.
func applyFlags(c *cli.Context, cfg *agent.Config) error {
	for _, o := range agent.Options() {
		if err := setOption(c, o.Name, o.Field(cfg)); err != nil {
			return err
		}
	}
	return nil
}

// applyTargetAgentFlags is applyFlags for honuad target-agent.
func applyTargetAgentFlags(c *cli.Context, cfg *targetagent.Config) error {
	for _, o := range targetagent.Options() {
		if err := setOption(c, o.Name, o.Field(cfg)); err != nil {
			return err
		}
	}
	return nil
}

// setOption sets *field from flag name when it was given as a flag or in
// the environment. A value that does not parse is a *agent.ConfigError
// naming the option.
func setOption(c *cli.Context, name string, field any) error {
	if !c.IsSet(name) {
		return nil
	}
	switch p := field.(type) {
	case nil: // --config: read before the file
	case *string:
		*p = c.String(name)
	case *int:
		*p = c.Int(name)
	case *uint64:
		*p = c.Uint64(name)
	case *bool:
		*p = c.Bool(name)
	case *agent.Duration:
		*p = agent.Duration(c.Duration(name))
	case *[]string:
		*p = c.StringSlice(name)
	case encoding.TextUnmarshaler:
		if err := p.UnmarshalText([]byte(c.String(name))); err != nil {
			return &agent.ConfigError{Err: fmt.Errorf("%s %w", name, err)}
		}
	}
	return nil
}
