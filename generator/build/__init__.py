"""Parameter file -> `out/<env>/`: config loading and the cross-layer
constraints, compose, the lint gate (with Strata's own rules in `checks/`),
atomic output, the up-to-date check, the docs generator, and `pipeline`,
which ties them. It may import `templates` and `generator.cfn`, never
`generator.deploy`. Kept free of imports so `uptodate` stays cheap."""
