"""Peers: other discovery engines scored exactly like lawagent's laws, for the leaderboard."""
