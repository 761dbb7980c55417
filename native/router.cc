// router: placeholder
