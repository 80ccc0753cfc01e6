package main

import (
	"encoding"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/honua-io/honua-gitops/internal/agent"
)

// agentFlags are honuad agent's flags, one for each of agent.Options, in
// their order: a flag of the kind its field takes, read from its
// environment variable, showing the default agent.DefaultConfig holds.
func agentFlags() []cli.Flag {
	var flags []cli.Flag
	var cfg agent.Config
	for _, o := range agent.Options() {
		env, def := []string{o.Env()}, o.Default()
		switch o.Field(&cfg).(type) {
		case nil, *string, encoding.TextUnmarshaler:
			flags = append(flags, &cli.StringFlag{Name: o.Name, EnvVars: env, Usage: o.Usage, DefaultText: def})
		case *int:
			flags = append(flags, &cli.IntFlag{Name: o.Name, EnvVars: env, Usage: o.Usage, DefaultText: def})
		case *uint64:
			flags = append(flags, &cli.Uint64Flag{Name: o.Name, EnvVars: env, Usage: o.Usage, DefaultText: def})
		case *bool:
			flags = append(flags, &cli.BoolFlag{Name: o.Name, EnvVars: env, Usage: o.Usage, DefaultText: def})
		case *agent.Duration:
			flags = append(flags, &cli.DurationFlag{Name: o.Name, EnvVars: env, Usage: o.Usage, DefaultText: def})
		case *[]string:
			flags = append(flags, &cli.StringSliceFlag{Name: o.Name, EnvVars: env, Usage: o.Usage, DefaultText: def})
		default:
			panic(fmt.Sprintf("honuad: option --%s has a field of type %T", o.Name, o.Field(&cfg)))
		}
	}
	return flags
}

// applyFlags sets in cfg every option given as a flag or in the
// environment (urfave/cli lets the flag win over its variable). A value
// that does not parse is a *agent.ConfigError naming the option.
func applyFlags(c *cli.Context, cfg *agent.Config) error {
	for _, o := range agent.Options() {
		if !c.IsSet(o.Name) {
			continue
		}
		switch p := o.Field(cfg).(type) {
		case nil: // --config: read before the file
		case *string:
			*p = c.String(o.Name)
		case *int:
			*p = c.Int(o.Name)
		case *uint64:
			*p = c.Uint64(o.Name)
		case *bool:
			*p = c.Bool(o.Name)
		case *agent.Duration:
			*p = agent.Duration(c.Duration(o.Name))
		case *[]string:
			*p = c.StringSlice(o.Name)
		case encoding.TextUnmarshaler:
			if err := p.UnmarshalText([]byte(c.String(o.Name))); err != nil {
				return &agent.ConfigError{Err: fmt.Errorf("%s %w", o.Name, err)}
			}
		}
	}
	return nil
}
