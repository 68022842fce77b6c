"""What a saved run looks at: saliency maps (:mod:`~minimtl.study.explain.maps`), the site shortcut
(:mod:`~minimtl.study.explain.site_separation`), the shift test (:mod:`~minimtl.study.explain.shift_test`),
and the command's outputs (:mod:`~minimtl.study.explain.explain_run`)."""
