package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

// The completion scripts ask honuactl itself for the words that may come
// next (urfave/cli's --generate-bash-completion).
const bashCompletion = `# bash completion for honuactl; load it with: source <(honuactl completion bash)
_honuactl_complete() {
  local cur words
  COMPREPLY=()
  cur="${COMP_WORDS[COMP_CWORD]}"
  words=("${COMP_WORDS[@]:0:COMP_CWORD}")
  local opts
  if [[ "$cur" == -* ]]; then
    opts=$("${words[@]}" "$cur" --generate-bash-completion 2>/dev/null)
  else
    opts=$("${words[@]}" --generate-bash-completion 2>/dev/null)
  fi
  COMPREPLY=($(compgen -W "${opts}" -- "${cur}"))
  return 0
}
complete -o bashdefault -o default -F _honuactl_complete honuactl
`

const zshCompletion = `#compdef honuactl
# zsh completion for honuactl; load it with: source <(honuactl completion zsh)
_honuactl() {
  local -a opts
  local cur
  cur=${words[-1]}
  if [[ "$cur" == -* ]]; then
    opts=("${(@f)$(${words[@]:0:#words[@]-1} ${cur} --generate-bash-completion 2>/dev/null)}")
  else
    opts=("${(@f)$(${words[@]:0:#words[@]-1} --generate-bash-completion 2>/dev/null)}")
  fi
  if [[ "${opts[1]}" != "" ]]; then
    _describe 'values' opts
  else
    _files
  fi
}
if [[ "$funcstack[1]" = "_honuactl" ]]; then
  _honuactl "$@"
else
  compdef _honuactl honuactl
fi
`

func (a *app) completion(c *cli.Context) error {
	as, err := args(c, "bash|zsh")
	if err != nil {
		return err
	}
	switch as[0] {
	case "bash":
		_, err = fmt.Fprint(a.s.stdout, bashCompletion)
	case "zsh":
		_, err = fmt.Fprint(a.s.stdout, zshCompletion)
	default:
		return usagef("completion %q: the shells are bash and zsh", as[0])
	}
	return err
}
