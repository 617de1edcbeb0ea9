"""``minicontainer doctor``: what this host offers and what each chapter needs."""

from __future__ import annotations


def add_arguments(p) -> None:
    p.add_argument("--no-kvm-probe", action="store_true", help="skip the short KVM probe boot")


def render(results, readiness) -> str:
    width = max(len(c.name) for c in results)
    lines = ["HOST"]
    for c in results:
        mark = "ok" if c.ok else ("--" if not c.required else "MISSING")
        lines.append(f"  {c.name:<{width}}  {mark:<7}  {c.detail}")
        lines += [f"  {'':<{width}}  {'':<7}    {extra}" for extra in c.more]
    lines.append("")
    lines.append("CHAPTERS")
    for chapter, missing in readiness:
        state = "ready" if not missing else "needs " + ", ".join(missing)
        lines.append(f"  {chapter.number}  {chapter.title:<26} {state}")
    advice = [f"  - {c.name}: {c.advice}" for c in results if not c.ok and c.required and c.advice]
    if advice:
        lines += ["", "TO FIX", *advice]
    return "\n".join(lines)


def execute(args) -> int:
    from ..doctor import chapter_readiness, checks
    results = checks(probe_kvm=not args.no_kvm_probe)
    print(render(results, chapter_readiness(results)))
    return 1 if any(not c.ok and c.required for c in results) else 0
