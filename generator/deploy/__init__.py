"""`out/<env>/` -> AWS: packaging, change sets and their model, events and
root cause, stack protection, the environment rollout, the plan report, the
local moto endpoint, and the deploy-side commands. It may import
`generator.build` and `generator.cfn`; nothing imports it but the CLI."""
