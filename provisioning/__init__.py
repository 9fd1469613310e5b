"""Drives other machines: the kit's loaned tablets (ADB, SSH) and the fleet of kits (Ansible).

Never imports kiosk's web layer; it shares the kit's settings and store.
"""
