"""``python -m chroma_grpc run ...``: the same CLI as the ``chroma-grpc`` console script."""

import sys

from chroma_grpc.server.__main__ import main

sys.exit(main())
