from nemi.cli import main

raise SystemExit(main())
