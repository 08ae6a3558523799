"""Knowledge that stays: page ownership and review, change-triggered review, knowledge risk.

- `review`: who owns each page, when it was last reviewed, when it is due (section defaults live there);
- `subjects` and `refs`: what the stack holds (by subject) and what each page refers to;
- `affected`: the pages that refer to something changed since a revision;
- `history`: `git log` / `git blame`, batched and cached by commit;
- `risk`: the knowledge-risk report per service, and its chart;
- `codeowners`: `CODEOWNERS` generated from the catalog and the pages' owners.
"""
