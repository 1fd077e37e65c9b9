"""CrypTen 0.4.1's machine-independent figures for chapter 08's MLP, for an honest comparison.

Recorded once with CrypTen 0.4.1 (2 parties plus its ``TTP`` provider, a separate dealer; MLP
64-32-10, batch 100). CrypTen's communication log counts every all-reduce as bytes sent *plus*
received, so its figure is given on that basis and halved for "bytes sent" (the course's
basis). Its default ``TFP`` provider makes the triples in party 0's process and gives no privacy
against party 0. Milliseconds are not recorded: they mean something only as ratios in one run.
"""

__all__ = ["CRYPTEN_MLP"]

CRYPTEN_MLP = {"rounds": 12, "bytes_sent_plus_received_per_party": 1_690_000, "bytes_sent_per_party_approx": 845_000,
               "provider": "TTP (separate dealer)"}
