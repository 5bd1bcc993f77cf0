"""The demo data set: the Horsens health cluster, MedCom's test families, plans of every kind.

`load_demo(settings, if_empty=...)` loads it through `app.cli.load_bundle`, the same code
path as `POST /fhir`; `app.demo.personas.PERSONAS` lists who to log in as (docs/demo.md).
"""

from app.demo.loader import DemoReport, demo_bundles, load_demo

__all__ = ["DemoReport", "demo_bundles", "load_demo"]
